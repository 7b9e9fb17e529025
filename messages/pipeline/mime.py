"""Reading and rewriting a message's text without tripping over bad input.

Mail arrives with broken encoded words, unknown charsets and raw 8-bit
bytes in headers. Rules and handlers read and write text through these
functions, which never raise on such input: they fall back to a lenient
reading with U+FFFD where bytes could not be decoded.
"""

import codecs
import re
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses
from functools import lru_cache
from typing import ClassVar, cast

# RFC 5322 section 2.2.3: a folded header line continues with whitespace.
FOLD = re.compile(r"\r?\n(?=[ \t])")
LINE_BREAK = re.compile(r"[\r\n]+")
# Where answers go is not who wrote the message, so Reply-To is not among them
# (Mailman's sender_headers has it; it lets anyone pose as a member).
SENDER_HEADERS = ("from", "sender")
TEXT_ENCODINGS = ("7bit", "8bit", "quoted-printable", "base64")


class UnparseableMessage(ValueError):
    """The bytes could not be read as a message at all."""


# Headers whose value is a list of <URI>s (RFC 2369 section 2, RFC 5064).
URI_HEADERS = (
    "list-help",
    "list-owner",
    "list-post",
    "list-subscribe",
    "list-unsubscribe",
    "list-archive",
    "archived-at",
)
BETWEEN_URIS = re.compile(r"(?<=>)[ \t]*,[ \t]*(?=<)")


class URIListHeader(UnstructuredHeader):
    """A header of <URI>s, folded only between them and never encoded.

    The email package folds a long value with no space in it as encoded
    words, which no mail reader takes for a URI: a long Archived-At came out
    as "=?utf-8?q?=3Chttp=3A//...". A URI is ASCII (RFC 3986); a value
    that is not is folded as any other header.
    """

    def fold(self, *, policy) -> str:
        value = str(self)
        if not value.isascii() or "\r" in value or "\n" in value:
            return super().fold(policy=policy)
        line = f"{self.name}: {value}"
        if not policy.max_line_length or len(line) <= policy.max_line_length:
            return line + policy.linesep
        # RFC 2369 section 2: whitespace may go between the list's elements.
        return f"{self.name}: " + f",{policy.linesep} ".join(BETWEEN_URIS.split(value)) + policy.linesep


class ParsedHeaders(HeaderRegistry):
    """The email package's header registry, remembering the header objects
    it made last. EmailMessage parses a header anew each time it is read
    (get_content_type() alone parses Content-Type again), and the rules and
    handlers read the same few headers of every post; the objects are
    immutable, so one can serve every message that has that header."""

    # Longer values (rare, perhaps hostile) are parsed each time, not kept.
    LONGEST_KEPT = 998

    def __init__(self):
        super().__init__()
        self._classes: dict[type, type] = {}
        for name in URI_HEADERS:
            self.map_to_type(name, URIListHeader)

    def map_to_type(self, name: str, cls: type) -> None:
        super().map_to_type(name, cls)
        self._classes = {}

    def __getitem__(self, name: str) -> type:
        # The email package makes a new class each time (with type()), and asks
        # for one at every header set, only to read its max_count. One class per
        # kind of header serves: it depends only on the registry's entry, which
        # also bounds how many are kept whatever names a message brings.
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._classes.get(kind)
        if made is None:
            made = self._classes[kind] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value):
        if type(value) is not str or len(value) > self.LONGEST_KEPT:
            return super().__call__(name, value)
        return self._parsed(name, value)

    @lru_cache(maxsize=1024)  # noqa: B019  one registry lives as long as the process
    def _parsed(self, name: str, value: str):
        return super().__call__(name, value)


class FoldingOnce(EmailPolicy):
    """policy.default, folding a header object once for all the messages
    written with it. Folding (the email package re-parses and re-encodes
    the value) was most of writing a post; the list's own headers are the
    same objects in every post (see ParsedHeaders), and objects are
    immutable, so their folded lines can be kept."""

    # (id of the header object, name, the policy's output settings) ->
    # (the object, its folded bytes). Keeping the object keeps its id from
    # being reused by another while the entry lives.
    _folded: ClassVar[dict[tuple, tuple[BaseHeader, bytes]]] = {}
    MOST_KEPT = 4096

    def fold_binary(self, name: str, value) -> bytes:
        if not isinstance(value, BaseHeader):
            return super().fold_binary(name, value)
        key = (id(value), name, self.linesep, self.max_line_length, self.utf8, self.cte_type)
        kept = self._folded.get(key)
        if kept is not None and kept[0] is value:
            return kept[1]
        folded = super().fold_binary(name, value)
        if len(self._folded) >= self.MOST_KEPT:
            self._folded.clear()
        self._folded[key] = (value, folded)
        return folded


# policy.default, with the remembering registry and folding.
POLICY = FoldingOnce(header_factory=ParsedHeaders())


def parse_message(raw: bytes) -> EmailMessage:
    """`raw` as an EmailMessage (RFC 5322 and MIME, leniently), or UnparseableMessage."""
    try:
        msg = BytesParser(policy=POLICY).parsebytes(bytes(raw))
    except Exception as exc:
        # The parser records defects rather than raising; what it raises is a bug
        # it hit on this input, and the message cannot be processed either way.
        raise UnparseableMessage(f"The message could not be parsed: {type(exc).__name__}: {exc}") from exc
    # policy.default makes every message and part an EmailMessage.
    return cast(EmailMessage, msg)


def raw_header(msg: EmailMessage, name: str) -> str | None:
    """The first `name` header as it came, unfolded; None when there is none."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return FOLD.sub("", str(value))
    return None


def raw_headers(msg: EmailMessage, name: str) -> list[str]:
    return [FOLD.sub("", str(value)) for key, value in msg.raw_items() if key.lower() == name.lower()]


def clean_text(text: str) -> str:
    """`text` with raw bytes smuggled in as surrogates read as UTF-8 (RFC 6532),
    anything undecodable replaced by U+FFFD, and NUL removed (no PostgreSQL
    text or JSON column takes it)."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text.replace("\x00", "")


def decode_header_value(raw: str) -> str:
    """The text of a header value, RFC 2047 encoded words decoded, on one line."""
    try:
        text = str(make_header(decode_header(raw)))
    except Exception:
        # Bad base64, unknown charsets and undecodable bytes raise assorted
        # errors from email.header; the raw text is the honest fallback.
        text = raw
    return LINE_BREAK.sub(" ", clean_text(text)).strip()


def header_text(msg: EmailMessage, name: str) -> str:
    """The decoded text of the first `name` header; "" when there is none."""
    raw = raw_header(msg, name)
    return "" if raw is None else decode_header_value(raw)


def header_addresses(msg: EmailMessage, *names: str) -> list[str]:
    """The lower-cased addresses in the `names` headers, in order, without duplicates."""
    values = [clean_text(value) for name in names for value in raw_headers(msg, name)]
    addresses: dict[str, None] = {}
    for _display_name, address in getaddresses(values):
        address = address.strip().lower()
        if "@" in address:
            addresses[address] = None
    return list(addresses)


def find_senders(msg: EmailMessage, envelope_sender: str) -> list[str]:
    """Who may have written `msg`: From, then Sender, then the envelope sender.

    The order is Mailman's (`Message.senders`) less Reply-To.
    """
    senders = header_addresses(msg, SENDER_HEADERS[0])
    for address in [*header_addresses(msg, *SENDER_HEADERS[1:]), envelope_sender.strip().lower()]:
        if "@" in address and address not in senders:
            senders.append(address)
    return senders


def first_text_plain(msg: EmailMessage) -> EmailMessage | None:
    """The first text/plain leaf of `msg` (outside attached messages), or None."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            return part
    return None


def part_charset(part: EmailMessage) -> str:
    """The part's declared charset when Python knows it as a text encoding,
    else "" (unknown, or a bytes codec such as "base64" or "zlib")."""
    charset = part.get_content_charset() or "us-ascii"
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):
        return ""
    # A private attribute, but the one str.decode itself checks.
    return charset if getattr(info, "_is_text_encoding", True) else ""


def part_text(part: EmailMessage, *, strict: bool = False) -> str | None:
    """The decoded text of a leaf part, lines ending in a newline alone.

    Leniently (the default) an unknown charset reads as UTF-8 and bad bytes
    as U+FFFD. With `strict`, None when the text cannot be decoded exactly,
    so a caller that rewrites it does not corrupt it.
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    charset = part_charset(part)
    if strict:
        if not charset:
            return None
        try:
            text = payload.decode(charset)
        except UnicodeDecodeError:
            return None
    else:
        text = payload.decode(charset or "utf-8", "replace")
    return text.replace("\r\n", "\n")


def set_part_text(part: EmailMessage, text: str) -> None:
    """Replace the text of the leaf text part `part`, keeping its subtype,
    its charset when `text` fits in it (else UTF-8), its transfer encoding
    when that can carry the result, its disposition and its RFC 3676
    format parameters. Adds no MIME-Version: a caller rewriting a whole
    message makes sure it has one."""
    subtype = part.get_content_subtype()
    charset = part_charset(part) or "utf-8"
    try:
        # Only charsets that keep ASCII as ASCII (not UTF-16, UTF-7) suit a rewritten text.
        if text.encode(charset).isascii() != text.isascii() or "a".encode(charset) != b"a":
            charset = "utf-8"
    except UnicodeEncodeError:
        charset = "utf-8"
    cte = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
    if not text.isascii() and cte not in TEXT_ENCODINGS[1:]:
        cte = "quoted-printable"
    elif cte not in TEXT_ENCODINGS:
        cte = "7bit"
    params = {name: part.get_param(name) for name in ("format", "delsp")}
    disposition = part.get("content-disposition")
    MIMEPart.set_content(part, text, subtype=subtype, charset=charset, cte=cte)
    for name, value in params.items():
        if isinstance(value, str):
            part.set_param(name, value)
    if disposition is not None:
        part["Content-Disposition"] = disposition


def message_bytes(msg: EmailMessage) -> bytes:
    """`msg` in wire form: CRLF line endings, 8-bit bodies left as they are."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
