"""Writing a message folds each header object once (messages.pipeline.mime.
FoldingOnce), a kind of header has one class (ParsedHeaders), and what it
writes is what the email package writes."""

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from messages.pipeline.mime import POLICY, message_bytes, parse_message

CORPUS = sorted((Path(__file__).resolve().parents[2] / "shared" / "corpus" / "mime").glob("*.txt"))

# As the handlers add them: the list's headers, the same in every post, and
# values long or non-ASCII enough to be folded and encoded.
ADDED = {
    "List-Id": "A list with a long description, long enough to be folded <ant.example.com>",
    "List-Post": "<mailto:ant@example.com>",
    "Subject": "[Ant] Réunion du comité: l'ordre du jour, les comptes de l'année et les élections du bureau",
    "X-BeenThere": "ant@example.com",
}


def standard_bytes(raw: bytes, added: dict[str, str]) -> bytes:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    for name, value in added.items():
        del msg[name]
        msg[name] = value
    return msg.as_bytes(policy=policy.default.clone(linesep="\r\n"))


def our_bytes(raw: bytes, added: dict[str, str]) -> bytes:
    msg = parse_message(raw)
    for name, value in added.items():
        del msg[name]
        msg[name] = value
    return message_bytes(msg)


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_a_message_is_written_as_the_email_package_writes_it(path):
    raw = path.read_bytes()

    # Twice: the second time the folded headers are the kept ones.
    assert our_bytes(raw, ADDED) == standard_bytes(raw, ADDED)
    assert our_bytes(raw, ADDED) == standard_bytes(raw, ADDED)


def test_kept_folding_depends_on_the_line_ending():
    msg = parse_message(b"Subject: x\r\n\r\nbody\r\n")
    msg["List-Id"] = ADDED["List-Id"]

    crlf = message_bytes(msg)
    lf = msg.as_bytes(policy=msg.policy.clone(linesep="\n"))

    assert b"\r\n" in crlf
    assert b"\r\n" not in lf
    assert lf.replace(b"\n", b"\r\n") == crlf


def test_the_same_list_header_in_many_posts_is_folded_once(monkeypatch):
    folded = []
    fold_binary = policy.EmailPolicy.fold_binary

    def counted(self, name, value):
        folded.append(name)
        return fold_binary(self, name, value)

    monkeypatch.setattr(policy.EmailPolicy, "fold_binary", counted)
    for number in range(3):
        msg = parse_message(f"Subject: post {number}\r\n\r\nbody\r\n".encode())
        msg["List-Id"] = "Folded once, long enough to be folded, and the same in every post <once.example.com>"
        message_bytes(msg)

    assert folded.count("List-Id") == 1


def test_a_long_archive_permalink_is_written_as_it_is():
    permalink = "<https://lists.example.com/lists/ant.example.com/archive/message/" + "A" * 52 + "/>"
    msg = parse_message(b"Subject: x\r\n\r\nbody\r\n")
    msg["Archived-At"] = permalink

    assert f"\r\nArchived-At: {permalink}\r\n".encode() in message_bytes(msg)


def test_a_list_of_uris_is_folded_between_them():
    web = "<https://lists.example.com/lists/ant.example.com/unsubscribe/?a=1,2>"
    msg = parse_message(b"Subject: x\r\n\r\nbody\r\n")
    msg["List-Unsubscribe"] = f"<mailto:ant-leave@example.com>, {web}"

    written = message_bytes(msg)

    assert f"\r\nList-Unsubscribe: <mailto:ant-leave@example.com>,\r\n {web}\r\n".encode() in written
    assert parse_message(written)["List-Unsubscribe"] == f"<mailto:ant-leave@example.com>, {web}"


def test_a_uri_header_that_is_not_ascii_is_folded_as_any_other():
    msg = parse_message(b"Subject: x\r\n\r\nbody\r\n")
    msg["List-Post"] = "<mailto:fourmi@exämple.org>"

    assert parse_message(message_bytes(msg))["List-Post"] == "<mailto:fourmi@exämple.org>"


def test_the_class_of_a_kind_of_header_is_made_once_whatever_its_name():
    registry = POLICY.header_factory

    assert registry["Subject"] is registry["subject"]
    assert registry["X-First"] is registry["X-Second"]
    assert registry["Subject"] is not registry["X-First"]
    assert registry["List-Id"] is not registry["List-Post"]


def test_headers_that_may_appear_once_still_may_appear_once():
    msg = parse_message(b"Subject: one\r\nX-Note: a\r\n\r\nbody\r\n")
    msg["X-Note"] = "b"

    with pytest.raises(ValueError, match="Subject"):
        msg["Subject"] = "two"
    assert msg.get_all("X-Note") == ["a", "b"]
