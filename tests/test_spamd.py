"""The spamd client against Debian's real spamd, and against loopback
servers that refuse, hang, trickle or answer garbage; and the verdicts read
from X-Spam-Status / X-Spam-Score headers."""

import math

import pytest

from messages.pipeline.mime import parse_message
from messages.spamd import MAX_REPLY, SpamdClient, SpamdError, parse_url, verdict_from_headers

pytest.register_assert_rewrite("tests.spamd_fixtures")
from tests.spamd_fixtures import CORPUS, GTUBE  # noqa: E402

pytest_plugins = ["tests.spamd_fixtures"]

HAM = CORPUS / "mime" / "msg_01.txt"
EX_OK = b"SPAMD/1.1 0 EX_OK\r\n"


def check(url: str, raw: bytes, timeout: float = 60):
    return SpamdClient(url, timeout).check(raw)


def test_spamd_scores_gtube_as_spam(spamd_url):
    verdict = check(spamd_url, GTUBE.read_bytes())
    assert verdict.is_spam
    assert verdict.score >= 1000
    assert verdict.threshold == 5.0
    assert "GTUBE" in verdict.rules
    assert verdict.source == "spamd"


def test_spamd_scores_a_corpus_message_as_ham(spamd_url):
    verdict = check(spamd_url, HAM.read_bytes())
    assert not verdict.is_spam
    assert verdict.score < 5.0


def test_spamd_answers_ping(spamd_url):
    SpamdClient(spamd_url, 60).ping()


def test_spamd_is_reached_over_a_unix_socket(unix_relay):
    assert "GTUBE" in check(unix_relay, GTUBE.read_bytes()).rules


def test_a_closed_port_raises_spamd_error(closed_port_url):
    with pytest.raises(SpamdError, match="cannot be reached"):
        check(closed_port_url, GTUBE.read_bytes())


def test_a_missing_unix_socket_raises_spamd_error(tmp_path):
    with pytest.raises(SpamdError, match="cannot be reached"):
        check(f"unix://{tmp_path}/nothing.sock", GTUBE.read_bytes())


def test_a_unix_path_the_system_cannot_take_raises_spamd_error():
    with pytest.raises(SpamdError, match="cannot be reached"):
        check("unix:///tmp/spamd\x00.sock", GTUBE.read_bytes())


def test_a_server_that_never_answers_raises_spamd_error_at_the_timeout(loopback):
    server = loopback(None)
    with pytest.raises(SpamdError, match=r"did not answer within 0\.5 s"):
        check(server.url, GTUBE.read_bytes(), timeout=0.5)


def test_the_timeout_bounds_the_whole_reply_not_each_read(loopback):
    # A valid ham verdict, one byte every 0.1 s: each read is quick, the
    # whole reply is not, and the client must give up rather than wait for it.
    server = loopback(EX_OK + b"Spam: False ; 0.0 / 5.0\r\n\r\n", chunk=1, pause=0.1)
    with pytest.raises(SpamdError, match="did not answer"):
        check(server.url, GTUBE.read_bytes(), timeout=0.5)


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html></html>",
        b"\x00\xff\xfe garbage \x80\r\n\r\n",
        EX_OK,
        EX_OK + b"\r\n",
        EX_OK + b"Spam: maybe ; 1.0 / 5.0\r\n\r\n",
        EX_OK + b"Spam: True ; NaN / 5.0\r\n\r\n",
        EX_OK + b"Spam: True ; 1e999 / 5.0\r\n\r\n",
        EX_OK + b"Spam: True ; " + b"9" * 5000 + b" / 5.0\r\n\r\n",
        EX_OK + b"Content-length: 100\r\nSpam: True ; 7.0 / 5.0\r\n\r\nGTUBE",
        EX_OK + b"Content-length: -1\r\nSpam: True ; 7.0 / 5.0\r\n\r\nGTUBE",
        b"SPAMD/1.0 76 Bad header line: (Content-Length contains non-numeric bytes)\r\n",
        b"SPAMD/1.0 76 Bad header line\r\nSpam: True ; 7.0 / 5.0\r\n\r\n",
    ],
)
def test_a_reply_that_is_not_a_verdict_raises_spamd_error(loopback, reply):
    with pytest.raises(SpamdError):
        check(loopback(reply).url, GTUBE.read_bytes(), timeout=5)


def test_spamds_own_error_is_quoted(loopback):
    server = loopback(b"SPAMD/1.0 76 Bad header line: (Content-Length contains non-numeric bytes)\r\n")
    with pytest.raises(SpamdError, match=r"refused the check: .*76 Bad header line"):
        check(server.url, GTUBE.read_bytes(), timeout=5)


def test_an_endless_reply_is_cut_off(loopback):
    server = loopback(EX_OK + b"Spam: True ; 7.0 / 5.0\r\n\r\n" + b"A," * MAX_REPLY)
    with pytest.raises(SpamdError, match="longer than"):
        check(server.url, GTUBE.read_bytes(), timeout=5)


def test_a_well_formed_reply_from_anywhere_is_read(loopback):
    reply = EX_OK + b"Content-length: 21\r\nSpam: Yes ; -2.5 / 4.0\r\n\r\nBAYES_00,<junk>,X_Y_1"
    verdict = check(loopback(reply).url, b"Subject: hi\r\n\r\nhi\r\n", timeout=5)
    assert (verdict.score, verdict.threshold, verdict.is_spam) == (-2.5, 4.0, True)
    assert verdict.rules == ("BAYES_00", "X_Y_1")


@pytest.mark.parametrize(
    "url", ["", "spamd.example.net:783", "http://127.0.0.1:783", "tcp://", "unix://", "tcp://[::1"]
)
def test_an_address_that_is_not_spamds_raises_spamd_error(url):
    with pytest.raises(SpamdError, match="not a spamd address"):
        parse_url(url)


def test_a_tcp_address_without_a_port_means_spamds_port():
    assert parse_url("tcp://127.0.0.1")[1] == ("127.0.0.1", 783)


# Headers added by the site's MTA


def headers(**values: str):
    lines = [f"{name.replace('_', '-')}: {value}" for name, value in values.items()]
    return parse_message(("\r\n".join([*lines, "Subject: hi"]) + "\r\n\r\nhi\r\n").encode())


def test_x_spam_status_gives_score_threshold_and_rules():
    msg = headers(
        X_Spam_Status="Yes, score=7.1 required=5.0 tests=GTUBE,\r\n\tNO_RECEIVED,NO_RELAYS autolearn=no\r\n"
        "\tautolearn_force=no version=4.0.1"
    )
    verdict = verdict_from_headers(msg)
    assert (verdict.score, verdict.threshold, verdict.is_spam) == (7.1, 5.0, True)
    assert verdict.rules == ("GTUBE", "NO_RECEIVED", "NO_RELAYS")
    assert verdict.source == "X-Spam-Status"


def test_an_old_x_spam_status_with_hits_is_read():
    verdict = verdict_from_headers(headers(X_Spam_Status="No, hits=-1.2 required=5.0 tests=none"))
    assert (verdict.score, verdict.is_spam) == (-1.2, False)


def test_x_spam_score_is_read_when_there_is_no_status():
    verdict = verdict_from_headers(headers(X_Spam_Score="12.5"))
    assert verdict.score == 12.5
    assert verdict.source == "X-Spam-Score"
    assert math.isnan(verdict.threshold)


def test_the_topmost_x_spam_status_is_the_one_read():
    msg = parse_message(
        b"X-Spam-Status: No, score=0.1 required=5.0\r\nX-Spam-Status: Yes, score=99.0 required=5.0\r\n\r\nhi\r\n"
    )
    assert verdict_from_headers(msg).score == 0.1


def test_no_spam_headers_no_verdict():
    assert verdict_from_headers(headers()) is None


@pytest.mark.parametrize(
    "value",
    [
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "1e999",
        "1e3",
        "9" * 5000,
        "1" + "0" * 400,
        "abc",
        "",
        "=?utf-8?q?7=2E1?=",
        "\u0661\u0662",
        "7.1.1",
        "0x10",
        "+++++++",
    ],
)
def test_hostile_scores_give_no_verdict(value):
    assert verdict_from_headers(headers(X_Spam_Score=value)) is None
    assert verdict_from_headers(headers(X_Spam_Status=f"Yes, score={value} required=5.0")) is None


@pytest.mark.parametrize(
    "value",
    [
        "Yes",
        "Maybe, score=7.1",
        "score=7.1 Yes",
        "Yes, score=7.1 tests=" + "A" * 100_000,
        "Yes, score=7.1 tests=" + ",".join(["GTUBE"] * 10_000),
        "Yes,,,,, score=" + " " * 10_000,
        "Yes, score=\x00 required=\xff",
    ],
)
def test_hostile_statuses_do_not_crash(value):
    verdict = verdict_from_headers(headers(X_Spam_Status=value))
    assert verdict is None or (verdict.score == 7.1 and len(verdict.rules) <= 20)
