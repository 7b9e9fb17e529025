"""Per-member copies of a post, made by splicing bytes.

A post is prepared once per batch: put in wire form (CRLF, dot-stuffed),
split into its header block and body, and stripped of the header fields
that differ per member. Each member's copy is then the shared header block,
a few new header lines, the shared body and (for a single text/plain body)
a footer line: a join of byte strings, with no parsing per member.
"""

from dataclasses import dataclass
from email import quoprimime
from email.parser import BytesHeaderParser
from email.policy import compat32

from lists.models import MailingList, Personalization
from members.one_click import one_click_url
from messages.smtp_client import CRLF, Envelope, wire_data

# Replaced in every personalized copy, so dropped from the shared block; To
# only with full personalization.
PERSONAL_FIELDS = frozenset({b"list-unsubscribe", b"list-unsubscribe-post"})
FULLY_PERSONAL_FIELDS = PERSONAL_FIELDS | {b"to"}
# RFC 8058 section 3.1.
ONE_CLICK_POST = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
PLAIN_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
# Charsets in which an ASCII line cannot simply be appended.
WIDE_CHARSETS = ("utf-16", "utf-32", "utf-7")


@dataclass(frozen=True)
class PreparedMessage:
    """A message in wire form, split for splicing."""

    head: bytes  # header fields, each ending in CRLF, without the per-member ones
    body: bytes  # everything after the blank line, ending in CRLF
    # How a footer line can be appended to the body: "plain", "quoted-printable"
    # or None when the body is not one text/plain part we can safely extend.
    footer_encoding: str | None


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """Wire-form bytes -> (header block ending in CRLF, or b""; body)."""
    if data.startswith(CRLF):
        return b"", data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data, b""
    return data[: end + 2], data[end + 4 :]


def drop_fields(head: bytes, names: frozenset[bytes]) -> bytes:
    """The header block without the fields named (lower-case), continuation lines included."""
    kept = []
    dropping = False
    for line in head.split(CRLF)[:-1]:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() in names
        if not dropping:
            kept.append(line)
    return b"".join(line + CRLF for line in kept)


def footer_encoding(head: bytes) -> str | None:
    """How a line can be appended to this message's body, judged from its headers."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + CRLF)
    if headers.get_content_type() != "text/plain":
        return None
    charset = (headers.get_content_charset() or "us-ascii").lower()
    if charset.startswith(WIDE_CHARSETS):
        return None
    encoding = str(headers.get("content-transfer-encoding", "")).strip().lower()
    if encoding in PLAIN_ENCODINGS:
        return "plain"
    if encoding == "quoted-printable":
        return "quoted-printable"
    return None


def prepare(raw: bytes, personal_fields: frozenset[bytes] = PERSONAL_FIELDS) -> PreparedMessage:
    """`raw` in wire form, split, without the header fields named (lower-case)."""
    head, body = split_message(wire_data(raw))
    return PreparedMessage(drop_fields(head, personal_fields), body, footer_encoding(head))


def verp_sender(mlist: MailingList, email: str) -> str:
    """The VERP envelope sender for one member: list-bounces+user=host@domain."""
    local, _, host = email.rpartition("@")
    return f"{mlist.list_name}-bounces+{local}={host}@{mlist.domain.mail_host}"


def footer_line(url: str, encoding: str) -> bytes:
    """The member's unsubscribe line, encoded and dot-stuffed for appending to the body."""
    line = f"\r\nUnsubscribe: <{url}>\r\n"
    if encoding == "quoted-printable":
        line = quoprimime.body_encode(line, eol="\r\n")
    data = line.encode("ascii")
    return data.replace(b"\r\n.", b"\r\n..")


class Personalizer:
    """Makes each member's copy of one post for one list."""

    def __init__(self, mlist: MailingList, raw: bytes):
        self.mlist = mlist
        self.set_to = mlist.personalize == Personalization.FULL
        self.message = prepare(raw, FULLY_PERSONAL_FIELDS if self.set_to else PERSONAL_FIELDS)
        self.leave = mlist.subaddress("leave").encode()
        self.list_id = mlist.list_id

    def envelope(self, email: str) -> Envelope:
        url = one_click_url(self.list_id, email)
        message = self.message
        parts = [message.head]
        if self.set_to:
            parts += [b"To: ", email.encode(), CRLF]
        # Folded after the comma so each URI sits on its own line (RFC 5322
        # section 2.2.3); a URI itself is never folded.
        parts += [b"List-Unsubscribe: <", url.encode(), b">,\r\n <mailto:", self.leave, b">\r\n"]
        parts += [ONE_CLICK_POST, CRLF, message.body]
        if message.footer_encoding:
            parts.append(footer_line(url, message.footer_encoding))
        return Envelope(verp_sender(self.mlist, email), (email,), b"".join(parts))
