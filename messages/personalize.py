"""Per-member copies of a post, made by splicing bytes.

A post is prepared once per batch: decorated with the list's header and
footer (rendered once, the member's placeholders left as slots; see
messages.footers), put in wire form (CRLF, dot-stuffed), split into its
header block and body, and stripped of the header fields that differ per
member. Each member's copy is then the shared header block, a few new
header lines and the body's pieces, of which only the lines of the header
and footer that hold a member's placeholder are made per member: a join of
byte strings, with no parsing per member.

The pieces can be joined because each starts a line: quoted-printable,
7bit and 8bit bodies are encoded line by line, and a base64 body splits
after a whole number of 57-byte groups (one 76-character line, RFC 2045
section 6.8).
"""

import binascii
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial

from lists.models import MailingList, Personalization
from members.one_click import one_click_url
from messages.footers import Decoration, Decorations, load_decorations, member_values
from messages.handlers.decorate import Shape, add_inline, decorate_message, shape_of
from messages.pipeline.mime import message_bytes, parse_message
from messages.smtp_client import CRLF, Envelope, wire_data

logger = logging.getLogger(__name__)

# Replaced in every personalized copy, so dropped from the shared block; To
# only with full personalization.
PERSONAL_FIELDS = frozenset({b"list-unsubscribe", b"list-unsubscribe-post"})
FULLY_PERSONAL_FIELDS = PERSONAL_FIELDS | {b"to"}
# RFC 8058 section 3.1.
ONE_CLICK_POST = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
BASE64_GROUP = 57

Piece = bytes | Callable[[Mapping[str, str]], bytes]


@dataclass(frozen=True)
class PreparedMessage:
    """A message in wire form, split for splicing."""

    head: bytes  # header fields, each ending in CRLF, without the per-member ones
    body: tuple[Piece, ...]  # bytes, or what makes a member's bytes from their placeholders

    def body_for(self, member: Mapping[str, str]) -> list[bytes]:
        """The body's bytes for the member whose placeholders are `member`."""
        return [piece if isinstance(piece, bytes) else piece(member) for piece in self.body]


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """Wire-form bytes -> (header block ending in CRLF, or b""; body)."""
    if data.startswith(CRLF):
        return b"", data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data, b""
    return data[: end + 2], data[end + 4 :]


def keep_fields(head: bytes, keep: Callable[[bytes], bool]) -> bytes:
    """The header block's fields whose lower-case name `keep` accepts, continuation lines included."""
    kept = []
    keeping = True
    for line in head.split(CRLF)[:-1]:
        if line[:1] not in (b" ", b"\t"):
            keeping = keep(line.split(b":", 1)[0].strip().lower())
        if keeping:
            kept.append(line)
    return b"".join(line + CRLF for line in kept)


def drop_fields(head: bytes, names: frozenset[bytes]) -> bytes:
    """The header block without the fields named (lower-case), continuation lines included."""
    return keep_fields(head, lambda name: name not in names)


def is_content_field(name: bytes) -> bool:
    """A field that describes the body (RFC 2045), which decorating may change."""
    return name.startswith(b"content-") or name == b"mime-version"


def prepare(
    raw: bytes,
    personal_fields: frozenset[bytes] = PERSONAL_FIELDS,
    decorations: Decorations | None = None,
    *,
    wide: bool = False,
) -> PreparedMessage:
    """`raw` in wire form, split, without the header fields named (lower-case),
    with `decorations` around it. With `wide`, made so that members'
    placeholders may hold any character (else ASCII only)."""
    head, body = split_message(wire_data(raw))
    head = drop_fields(head, personal_fields)
    if not decorations:
        return PreparedMessage(head, (body,))
    try:
        decorated = decorate(parse_message(raw), decorations, wide)
    except Exception:
        # The copies still go out, with the List-Unsubscribe header: a post
        # the email package cannot rebuild must not stop its delivery.
        logger.exception("The personalized copies could not be decorated; sending them without header and footer")
        decorated = None
    if decorated is None:
        return PreparedMessage(head, (body,))
    content_head, pieces = decorated
    return PreparedMessage(keep_fields(head, lambda name: not is_content_field(name)) + content_head, pieces)


def decorate(msg: EmailMessage, decorations: Decorations, wide: bool) -> tuple[bytes, tuple[Piece, ...]] | None:
    """(the content fields, the body's pieces) of `msg` decorated as the
    decorate handler would, or None when it takes no decoration."""
    shape, text = shape_of(msg)
    if shape is Shape.NONE:
        return None
    if shape is Shape.INLINE:
        return inline_body(msg, text or "", decorations, wide)
    return parts_body(msg, decorations)


def inline_body(msg: EmailMessage, text: str, decorations: Decorations, wide: bool) -> tuple[bytes, tuple[Piece, ...]]:
    """A lone text/plain body with the header and footer in its text."""
    # Each piece ends its last line: pieces are joined as whole lines, and
    # the message ends in CRLF.
    header, footer = (part.ending_in_newline() if part else part for part in (decorations.header, decorations.footer))
    if footer and text and not text.endswith("\n"):
        text += "\n"
    if wide:
        msg.set_param("charset", "utf-8")
    # Decorated once with the longest values the slots can take, so the
    # charset and transfer encoding chosen carry every member's text.
    char = "\u00e9" if wide else "x"
    add_inline(msg, text, header.sample(char), footer.sample(char))
    charset = msg.get_content_charset() or "us-ascii"
    encoding = str(msg.get("content-transfer-encoding", "7bit")).strip().lower()
    pieces = [piece for piece in (header, text, footer) if piece]
    return content_fields(msg), encoded_text(pieces, charset, encoding)


def parts_body(msg: EmailMessage, decorations: Decorations) -> tuple[bytes, tuple[Piece, ...]]:
    """A multipart body with the header and footer as parts: a stand-in
    line in each personal part marks where each member's text goes."""
    slots: dict[bytes, Decoration] = {}

    def stand_in(decoration: Decoration) -> str:
        if not decoration.personal:
            return decoration.text()
        marker = f"personal-decoration-{secrets.token_hex(16)}"
        slots[marker.encode()] = decoration.ending_in_newline()
        return marker

    decorate_message(msg, stand_in(decorations.header), stand_in(decorations.footer), part_encoding="quoted-printable")
    head, body = split_message(wire_data(message_bytes(msg)))
    if not slots:
        return keep_fields(head, is_content_field), (body,)
    pieces: list[Piece] = []
    for number, chunk in enumerate(re.split(b"(" + b"|".join(slots) + b")\r\n", body)):
        if number % 2:
            pieces += encoded_text([slots[chunk]], "utf-8", "quoted-printable")
        else:
            pieces.append(chunk)
    return keep_fields(head, is_content_field), joined(pieces)


def content_fields(msg: EmailMessage) -> bytes:
    """The MIME fields of `msg`'s header, in wire form."""
    head, _body = split_message(wire_data(message_bytes(msg)))
    return keep_fields(head, is_content_field)


def encoded_text(pieces: Iterable[str | Decoration], charset: str, encoding: str) -> tuple[Piece, ...]:
    """Text pieces, each starting a line, as body bytes in `charset` and
    the transfer `encoding`; the member's lines are left to make."""
    if encoding == "base64":
        return base64_text(list(pieces), charset)
    quoted_printable = encoding == "quoted-printable"
    encode = partial(encoded_lines, charset=charset, quoted_printable=quoted_printable)
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(encode(piece))
            continue
        for line in piece.lines():
            if not line.personal:
                out.append(encode(line.text()))
            elif quoted_printable:
                out.append(partial(member_line, line, encode))
            else:
                out.append(partial(plain_member_line, plain_parts(line, charset), charset))
    return joined(out)


def encoded_lines(text: str, *, charset: str, quoted_printable: bool) -> bytes:
    """Whole lines of text, encoded and in wire form."""
    data = text.encode(charset)
    if quoted_printable:
        data = binascii.b2a_qp(data, istext=True)
    return wire_data(data) if data else b""


def member_line(line: Decoration, encode: Callable[[str], bytes], member: Mapping[str, str]) -> bytes:
    return encode(line.text(member))


def plain_parts(line: Decoration, charset: str) -> tuple[bytes | str, ...]:
    """One line of 7bit or 8bit text, its own text encoded once (in wire
    form) and its slots by name: a member's line is then a join."""
    return tuple(
        piece.encode(charset).replace(b"\n", CRLF) if isinstance(piece, str) else piece.name for piece in line.pieces
    )


def plain_member_line(parts: tuple[bytes | str, ...], charset: str, member: Mapping[str, str]) -> bytes:
    data = b"".join(part if isinstance(part, bytes) else member[part].encode(charset) for part in parts)
    # RFC 5321 section 4.5.2; the line is one line, so only its start can need it.
    return b"." + data if data.startswith(b".") else data


def base64_text(pieces: list[str | Decoration], charset: str) -> tuple[Piece, ...]:
    """Base64 text: what comes before the first member's placeholder is
    encoded once, up to the last whole 57-byte group; the rest per member."""
    static: list[str] = []
    while pieces and (isinstance(pieces[0], str) or not pieces[0].personal):
        piece = pieces.pop(0)
        static.append(piece if isinstance(piece, str) else piece.text())
    start = canonical("".join(static)).encode(charset)
    if not pieces:
        return (base64_lines(start),)
    cut = len(start) // BASE64_GROUP * BASE64_GROUP
    return joined([base64_lines(start[:cut]), partial(base64_rest, start[cut:], tuple(pieces), charset)])


def base64_rest(start: bytes, pieces: tuple[str | Decoration, ...], charset: str, member: Mapping[str, str]) -> bytes:
    text = "".join(piece if isinstance(piece, str) else piece.text(member) for piece in pieces)
    return base64_lines(start + canonical(text).encode(charset))


def canonical(text: str) -> str:
    """RFC 2045 section 6.8: encoded text has CRLF line ends."""
    return text.replace("\n", "\r\n")


def base64_lines(data: bytes) -> bytes:
    return b"".join(
        binascii.b2a_base64(data[start : start + BASE64_GROUP]).replace(b"\n", CRLF)
        for start in range(0, len(data), BASE64_GROUP)
    )


def joined(pieces: Iterable[Piece]) -> tuple[Piece, ...]:
    """`pieces` with neighbouring bytes joined, and empty ones dropped."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += piece
        elif piece != b"":
            out.append(piece)
    return tuple(out)


def verp_sender(mlist: MailingList, email: str) -> str:
    """The VERP envelope sender for one member: list-bounces+user=host@domain."""
    local, _, host = email.rpartition("@")
    return f"{mlist.list_name}-bounces+{local}={host}@{mlist.domain.mail_host}"


class Personalizer:
    """Makes each member's copy of one post for one list. Reads the list's
    header and footer templates once (one query)."""

    def __init__(self, mlist: MailingList, raw: bytes):
        self.mlist = mlist
        self.raw = raw
        self.set_to = mlist.personalize == Personalization.FULL
        self.personal_fields = FULLY_PERSONAL_FIELDS if self.set_to else PERSONAL_FIELDS
        self.decorations = load_decorations(mlist, personal=True)
        self.message = prepare(raw, self.personal_fields, self.decorations)
        self.wide_message: PreparedMessage | None = None
        self.leave = mlist.subaddress("leave").encode()
        self.list_id = mlist.list_id

    def for_address(self, email: str) -> PreparedMessage:
        """The prepared message whose text can carry `email` (made once, when
        a non-ASCII address first needs it)."""
        if email.isascii():
            return self.message
        if self.wide_message is None:
            self.wide_message = prepare(self.raw, self.personal_fields, self.decorations, wide=True)
        return self.wide_message

    def envelope(self, email: str) -> Envelope:
        url = one_click_url(self.list_id, email)
        message = self.for_address(email)
        parts = [message.head]
        if self.set_to:
            parts += [b"To: ", email.encode(), CRLF]
        # Folded after the comma so each URI sits on its own line (RFC 5322
        # section 2.2.3); a URI itself is never folded.
        parts += [b"List-Unsubscribe: <", url.encode(), b">,\r\n <mailto:", self.leave, b">\r\n"]
        parts += [ONE_CLICK_POST, CRLF, *message.body_for(member_values(email, url))]
        return Envelope(verp_sender(self.mlist, email), (email,), b"".join(parts))
