"""The LMTP receiver, spoken to over a real loopback socket by smtplib's
LMTP client, as the site's MTA speaks to it."""

import hashlib
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from messages.models import Destination, InboundMessage, InboundStatus
from tests.lmtp_client import (
    as_mta_sends,
    connected,
    deliver,
    make_message,
    queued_ids,
    running_lmtp_server,
    use_stub_broker,
)

pytestmark = pytest.mark.django_db(transaction=True)

CORPUS = sorted((Path(__file__).resolve().parents[2] / "shared" / "corpus" / "mime").glob("*.txt"))


@pytest.fixture
def inbound_queue(monkeypatch):
    return use_stub_broker(monkeypatch)


@pytest.fixture
def lmtp_server(transactional_db, inbound_queue):
    with running_lmtp_server() as server:
        yield server


@pytest.fixture
def lmtp(lmtp_server):
    with connected(lmtp_server) as client:
        yield client


def stored(rcpt_to: str) -> list[InboundMessage]:
    return list(InboundMessage.objects.filter(rcpt_to=rcpt_to).order_by("pk"))


def test_lhlo_advertises_size_8bitmime_and_enhanced_status_codes(lmtp):
    assert lmtp.esmtp_features["size"] == str(settings.MAX_MESSAGE_SIZE)
    assert lmtp.has_extn("8bitmime")
    assert lmtp.has_extn("enhancedstatuscodes")


def test_post_to_list_gets_250_and_is_stored(mlist, lmtp, inbound_queue):
    raw = make_message("<hello@example.org>")

    delivery = deliver(lmtp, ["ant@example.com"], raw, mail_from="sender@example.org")

    assert delivery.rcpt["ant@example.com"][0] == 250
    assert delivery.data_codes == [250]
    assert delivery.data[0][1].startswith("2.0.0 <ant@example.com> stored as #")
    row = InboundMessage.objects.get()
    assert (row.mailing_list, row.destination, row.subaddress_argument) == (mlist, Destination.POST, "")
    assert (row.mail_from, row.rcpt_to) == ("sender@example.org", "ant@example.com")
    assert bytes(row.raw) == raw
    assert row.size == len(raw)
    assert row.message_id == "<hello@example.org>"
    assert row.digest == hashlib.sha256(raw).hexdigest()
    assert row.status == InboundStatus.QUEUED
    assert queued_ids(inbound_queue) == [row.pk]


def test_two_recipients_in_one_transaction_get_two_replies(mlist, lmtp, inbound_queue):
    delivery = deliver(lmtp, ["ant@example.com", "ant-owner@example.com"], make_message())

    assert delivery.data_codes == [250, 250]
    assert "<ant@example.com>" in delivery.data[0][1]
    assert "<ant-owner@example.com>" in delivery.data[1][1]
    # Exactly two: the next reply read is NOOP's own.
    assert lmtp.noop() == (250, b"OK")
    rows = list(InboundMessage.objects.order_by("pk"))
    assert [row.destination for row in rows] == [Destination.POST, Destination.OWNER]
    assert queued_ids(inbound_queue) == [row.pk for row in rows]


SUBADDRESSES = {
    "ant@example.com": (Destination.POST, ""),
    "ant-request@example.com": (Destination.REQUEST, ""),
    "ant-join@example.com": (Destination.JOIN, ""),
    "ant-subscribe+web@example.com": (Destination.JOIN, "web"),
    "ant-leave@example.com": (Destination.LEAVE, ""),
    "ant-unsubscribe+web@example.com": (Destination.LEAVE, "web"),
    "ant-confirm+Tok3nABC@example.com": (Destination.CONFIRM, "Tok3nABC"),
    "ant-owner@example.com": (Destination.OWNER, ""),
    "ant-bounces@example.com": (Destination.BOUNCES, ""),
    "ant-bounces+bob=example.org@example.com": (Destination.BOUNCES, "bob=example.org"),
}


def test_each_subaddress_is_stored_with_its_destination_and_argument(mlist, lmtp):
    delivery = deliver(lmtp, SUBADDRESSES, make_message())

    assert delivery.data_codes == [250] * len(SUBADDRESSES)
    for address, (destination, argument) in SUBADDRESSES.items():
        row = InboundMessage.objects.get(rcpt_to=address)
        assert (row.mailing_list, row.destination, row.subaddress_argument) == (mlist, destination, argument)


def test_recipient_address_case_is_ignored(mlist, lmtp):
    delivery = deliver(lmtp, ["ANT-Request@Example.COM"], make_message())

    assert delivery.data_codes == [250]
    [row] = stored("ANT-Request@Example.COM")
    assert (row.mailing_list, row.destination) == (mlist, Destination.REQUEST)


def test_unknown_list_gets_550(mlist, lmtp):
    for address in ["nobody@example.com", "ant@example.net", "ant@lists.example.com"]:
        assert lmtp.mail("sender@example.org")[0] == 250
        code, reply = lmtp.rcpt(address)
        assert (code, reply.decode()) == (550, f"5.1.1 <{address}>: no such list or list address")
        lmtp.rset()


def test_unknown_subaddress_gets_550(mlist, lmtp):
    delivery = deliver(lmtp, ["ant-admin@example.com", "ant-requests@example.com", "ant-@example.com"], b"")

    assert {code for code, _ in delivery.rcpt.values()} == {550}
    assert all(reply.startswith("5.1.1 ") for _, reply in delivery.rcpt.values())
    assert not InboundMessage.objects.exists()


def test_only_accepted_recipients_get_a_reply_after_data(mlist, lmtp):
    delivery = deliver(lmtp, ["ant@example.com", "nobody@example.com", "ant-owner@example.com"], make_message())

    assert delivery.rcpt["nobody@example.com"][0] == 550
    assert delivery.data_codes == [250, 250]
    assert lmtp.noop() == (250, b"OK")
    assert InboundMessage.objects.count() == 2


def test_oversize_message_gets_552(mlist, lmtp):
    code, reply = lmtp.mail("sender@example.org", [f"SIZE={settings.MAX_MESSAGE_SIZE + 1}"])

    assert code == 552
    assert reply.decode().startswith("5.3.4 ")


def test_oversize_data_gets_552_for_each_recipient(mlist, transactional_db, inbound_queue):
    big = make_message(body="All work and no play makes Jack a dull boy.\r\n" * 1000)
    with running_lmtp_server(max_message_size=10_000) as server, connected(server) as client:
        delivery = deliver(client, ["ant@example.com", "ant-owner@example.com"], big)

        assert [(code, reply[:6]) for code, reply in delivery.data] == [(552, "5.3.4 ")] * 2
        # The session goes on: a message within the limit is taken.
        assert deliver(client, ["ant@example.com"], make_message()).data_codes == [250]
    assert InboundMessage.objects.count() == 1
    assert len(queued_ids(inbound_queue)) == 1


def test_a_single_line_over_the_size_limit_gets_552(mlist, transactional_db, inbound_queue):
    with running_lmtp_server(max_message_size=10_000) as server, connected(server) as client:
        delivery = deliver(client, ["ant@example.com"], make_message(body="x" * 20_000 + "\r\n"))

    assert [(code, reply[:6]) for code, reply in delivery.data] == [(552, "5.3.4 ")]
    assert not InboundMessage.objects.exists()


def test_duplicate_delivery_is_posted_once(mlist, lmtp, inbound_queue):
    raw = make_message("<again@example.org>")

    first = deliver(lmtp, ["ant@example.com"], raw)
    second = deliver(lmtp, ["ant@example.com"], raw)

    assert first.data_codes == second.data_codes == [250]
    assert "already received" in second.data[0][1]
    original, duplicate = stored("ant@example.com")
    assert (original.status, duplicate.status) == (InboundStatus.QUEUED, InboundStatus.DUPLICATE)
    assert queued_ids(inbound_queue) == [original.pk]


def test_a_duplicate_without_message_id_is_recognised_by_its_bytes(mlist, lmtp, inbound_queue):
    raw = make_message(message_id=None)

    deliver(lmtp, ["ant@example.com"], raw)
    deliver(lmtp, ["ant@example.com"], raw)

    assert [row.status for row in stored("ant@example.com")] == [InboundStatus.QUEUED, InboundStatus.DUPLICATE]
    assert len(queued_ids(inbound_queue)) == 1


def test_the_same_message_id_with_other_bytes_is_posted_again(mlist, lmtp, inbound_queue):
    deliver(lmtp, ["ant@example.com"], make_message("<same@example.org>", body="One.\r\n"))
    deliver(lmtp, ["ant@example.com"], make_message("<same@example.org>", body="Two.\r\n"))

    assert [row.status for row in stored("ant@example.com")] == [InboundStatus.QUEUED] * 2
    assert len(queued_ids(inbound_queue)) == 2


def test_null_sender_is_stored_as_an_empty_envelope_sender(mlist, lmtp):
    delivery = deliver(lmtp, ["ant-bounces+bob=example.org@example.com"], make_message(), mail_from="<>")

    assert delivery.data_codes == [250]
    row = InboundMessage.objects.get()
    assert (row.mail_from, row.destination, row.subaddress_argument) == ("", Destination.BOUNCES, "bob=example.org")


def test_a_broker_failure_after_the_commit_still_gets_250(mlist, lmtp, inbound_queue, monkeypatch, caplog):
    def broker_down(message, *, delay=None):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(inbound_queue, "enqueue", broker_down)

    delivery = deliver(lmtp, ["ant@example.com"], make_message())

    assert delivery.data_codes == [250]
    assert queued_ids(inbound_queue) == []
    row = InboundMessage.objects.get()
    assert row.status == InboundStatus.QUEUED  # the sweeper will queue it again
    assert f"Could not queue inbound message #{row.pk}" in caplog.text


def test_the_250_does_not_wait_on_the_broker(mlist, lmtp, inbound_queue, monkeypatch):
    broker_slow = threading.Event()
    enqueue = inbound_queue.enqueue

    def slow_enqueue(message, *, delay=None):
        broker_slow.wait(10)
        return enqueue(message, delay=delay)

    monkeypatch.setattr(inbound_queue, "enqueue", slow_enqueue)

    delivery = deliver(lmtp, ["ant@example.com"], make_message())

    assert delivery.data_codes == [250]
    assert list(inbound_queue.queues["inbound"].queue) == []
    broker_slow.set()
    assert queued_ids(inbound_queue) == [InboundMessage.objects.get().pk]


def test_stopping_sends_what_was_stored_to_the_broker_first(mlist, transactional_db, inbound_queue, monkeypatch):
    enqueue = inbound_queue.enqueue
    monkeypatch.setattr(inbound_queue, "enqueue", lambda message, *, delay=None: time.sleep(0.2) or enqueue(message))
    with running_lmtp_server() as server, connected(server) as client:
        for number in range(3):
            assert deliver(client, ["ant@example.com"], make_message(f"<m{number}@example.org>")).data_codes == [250]

    # No waiting here: the server's stop sent them.
    assert len(inbound_queue.queues["inbound"].queue) == 3


HOSTILE = {
    "NUL bytes": b"Subject: nul\x00here\r\nMessage-ID: <nul\x00@x>\r\n\r\nbody\x00body\r\n",
    "8-bit headers": "Subject: Grüße aus Köln\r\nFrom: Jürgen <j@example.org>\r\n\r\nHallo\r\n".encode("latin-1"),
    "unknown charset": b"Subject: =?x-unknown?q?caf=E9?=\r\nContent-Type: text/plain; charset=x-unknown\r\n"
    b"\r\ncaf\xe9\r\n",
    "huge folded header": b"Subject: x\r\nReferences:" + b"\r\n <ref@example.org>" * 20_000 + b"\r\n\r\nbody\r\n",
    "one 100 KB header line": b"X-Long: " + b"a" * 100_000 + b"\r\nSubject: long\r\n\r\nbody\r\n",
    "missing Message-ID": b"From: a@example.org\r\nSubject: no id\r\n\r\nbody\r\n",
    "broken MIME": b'Content-Type: multipart/mixed; boundary="BOUND"\r\n\r\n--BOUND\r\nContent-Type: text/plain\r\n\r\n'
    b"no closing boundary\r\n--BOUN\r\n",
    "headers only": b"Subject: headers only\r\n",
    "empty": b"",
    "binary garbage": bytes(range(256)) + b"\r\n",
}


def test_bad_input_is_stored_as_received(mlist, lmtp):
    for case, raw in HOSTILE.items():
        rcpt_to = f"ant+{case.replace(' ', '-')}@example.com"
        assert deliver(lmtp, [rcpt_to], raw).data_codes == [250], case

    # smtplib ends the data with CRLF if it does not (RFC 5321 section 4.1.1.4).
    assert {row.rcpt_to: bytes(row.raw) for row in InboundMessage.objects.all()} == {
        f"ant+{case.replace(' ', '-')}@example.com": as_sent(raw) for case, raw in HOSTILE.items()
    }
    assert InboundMessage.objects.get(rcpt_to="ant+NUL-bytes@example.com").message_id == "<nul@x>"


def test_bare_lf_line_ends_are_stored_as_received(mlist, lmtp):
    raw = b"Subject: unix\nMessage-ID: <lf@example.org>\n\n" + b"a line of a long body\n" * 500

    delivery = deliver(lmtp, ["ant@example.com"], raw)

    assert delivery.data_codes == [250]
    row = InboundMessage.objects.get()
    assert bytes(row.raw) == raw + b"\r\n"
    assert row.message_id == "<lf@example.org>"


def test_dot_stuffing_is_undone(mlist, lmtp):
    raw = b"Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n"

    deliver(lmtp, ["ant@example.com"], raw)

    assert bytes(InboundMessage.objects.get().raw) == raw


def test_every_corpus_message_is_stored_byte_exact(mlist, lmtp):
    assert len(CORPUS) == 48
    sent = {}
    for path in CORPUS:
        rcpt_to = f"ant+{path.stem}@example.com"
        sent[rcpt_to] = as_mta_sends(path.read_bytes())
        assert deliver(lmtp, [rcpt_to], sent[rcpt_to]).data_codes == [250], path.name

    assert {row.rcpt_to: bytes(row.raw) for row in InboundMessage.objects.all()} == sent


def test_every_corpus_message_with_bare_lf_is_stored_as_received(mlist, lmtp):
    sent = {}
    for path in CORPUS:
        rcpt_to = f"ant+{path.stem}@example.com"
        sent[rcpt_to] = path.read_bytes()
        assert deliver(lmtp, [rcpt_to], sent[rcpt_to]).data_codes == [250], path.name

    assert {row.rcpt_to: bytes(row.raw) for row in InboundMessage.objects.all()} == {
        rcpt_to: as_sent(raw) for rcpt_to, raw in sent.items()
    }


def test_stop_says_421_to_open_connections(mlist, transactional_db, inbound_queue):
    with running_lmtp_server() as server, connected(server) as client:
        server.stop()

        code, reply = client.getreply()

    assert (code, reply[:6]) == (421, b"4.3.2 ")


def as_sent(raw: bytes) -> bytes:
    """The message data as smtplib sends it, which ends with CRLF."""
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"
