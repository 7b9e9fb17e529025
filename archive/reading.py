"""What the archive reads from a message: its ids, sender, date, display
text and attachments. Never raises on bad input: what cannot be read is
left empty, and a message that cannot be read at all is marked broken."""

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from inscriptis import get_text

from messages.pipeline.mime import (
    UnparseableMessage,
    clean_text,
    decode_header_value,
    header_text,
    parse_message,
    part_text,
    raw_header,
)

# A Message-ID between angle brackets, as In-Reply-To and References hold them.
BRACKETED_ID = re.compile(r"<([^<>\s]+)>")
# Only the nearest ancestors are threaded on: clients trim long References,
# and a hostile one must not make a message cost thousands of rows.
MAX_REFERENCES = 64
# Longest text kept in the short columns; the raw message keeps everything.
MAX_SUBJECT = 1000
MAX_NAME = 255
MAX_ADDRESS = 254
MAX_FILENAME = 255
# A Date: before this, or more than CLOCK_SKEW after receipt, is not believed.
EARLIEST_DATE = datetime(1970, 1, 2, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


@dataclass
class AttachmentPart:
    filename: str
    content_type: str
    content: bytes


@dataclass
class ReadMessage:
    """The fields of an archived message, as read from its bytes."""

    message_id: str
    subject: str = ""
    sender_name: str = ""
    sender_address: str = ""
    date: datetime | None = None
    in_reply_to: str = ""
    # Oldest first, the parent last; without the message's own id.
    references: list[str] = field(default_factory=list)
    body: str = ""
    attachments: list[AttachmentPart] = field(default_factory=list)
    error: str = ""


def message_id_hash(message_id: str) -> str:
    """Mailman 3's X-Message-ID-Hash of `message_id` (without angle brackets):
    32 characters of base32, the archived message's permalink id."""
    digest = hashlib.sha1(message_id.encode("utf-8", "surrogateescape")).digest()  # noqa: S324  an id, not a secret
    return base64.b32encode(digest).decode("ascii")


def content_message_id(raw: bytes) -> str:
    """The Message-ID given to a message without one: a hash of its content,
    line endings and trailing blank lines aside, so that a re-import (or an
    export read back) finds it again."""
    normal = raw.replace(b"\r\n", b"\n").rstrip(b"\n")
    return f"{hashlib.sha256(normal).hexdigest()[:40]}@archive.invalid"


def normal_message_id(value: str) -> str:
    """The Message-ID in a header value, without angle brackets; "" for none."""
    match = BRACKETED_ID.search(value)
    if match:
        return match.group(1)
    return "".join(value.split()).strip("<>")


def reference_chain(in_reply_to: str, references: str, own_id: str) -> list[str]:
    """The Message-IDs a message is threaded on, oldest first, its parent last.

    As in JWZ's algorithm, References gives the ancestry and In-Reply-To, when
    it names something else, the parent. An id that appears twice keeps its
    nearest place, and the message's own id is dropped: a loop in References
    cannot make a message its own ancestor.
    """
    chain = BRACKETED_ID.findall(references)
    parent = BRACKETED_ID.findall(in_reply_to)
    if parent:
        chain.append(parent[0])
    nearest_first: dict[str, None] = {}
    for message_id in reversed(chain):
        if message_id != own_id and message_id not in nearest_first:
            nearest_first[message_id] = None
    return list(reversed(list(nearest_first)[:MAX_REFERENCES]))


def read_message(raw: bytes, received_at: datetime) -> ReadMessage:
    """Everything the archive keeps from `raw`. A message that cannot be
    parsed, or has no header at all, comes back with its `error` said and
    a Message-ID derived from its content."""
    try:
        msg = parse_message(raw)
    except UnparseableMessage as exc:
        return ReadMessage(message_id=content_message_id(raw), date=received_at, error=str(exc))
    if not msg.keys():
        return ReadMessage(
            message_id=content_message_id(raw), date=received_at, error="No message headers could be read."
        )
    try:
        return read_parsed(msg, raw, received_at)
    except Exception as exc:
        # The email package raises assorted errors on some hostile input; the
        # message is kept, marked broken, rather than lost.
        message_id = normal_message_id(clean_text(raw_header(msg, "Message-ID") or "")) or content_message_id(raw)
        return ReadMessage(
            message_id=message_id, date=received_at, error=clean_text(f"{type(exc).__name__}: {exc}")[:2000]
        )


def read_parsed(msg: EmailMessage, raw: bytes, received_at: datetime) -> ReadMessage:
    message_id = normal_message_id(clean_text(raw_header(msg, "Message-ID") or "")) or content_message_id(raw)
    in_reply_to = clean_text(raw_header(msg, "In-Reply-To") or "")
    references = clean_text(raw_header(msg, "References") or "")
    name, address = sender_of(msg)
    body, attachments = body_and_attachments(msg)
    return ReadMessage(
        message_id=message_id,
        subject=header_text(msg, "Subject")[:MAX_SUBJECT],
        sender_name=name,
        sender_address=address,
        date=date_of(msg, received_at),
        in_reply_to=normal_message_id(in_reply_to)[:998] if in_reply_to else "",
        references=reference_chain(in_reply_to, references, message_id),
        body=body,
        attachments=attachments,
    )


def sender_of(msg: EmailMessage) -> tuple[str, str]:
    """The display name and address of the first author in From (else Sender)."""
    for name in ("From", "Sender"):
        value = raw_header(msg, name)
        if value is None:
            continue
        for display_name, address in getaddresses([clean_text(value)]):
            if "@" in address:
                return decode_header_value(display_name)[:MAX_NAME], address.strip().lower()[:MAX_ADDRESS]
        return decode_header_value(value)[:MAX_NAME], ""
    return "", ""


def date_of(msg: EmailMessage, received_at: datetime) -> datetime:
    """Date: in UTC when it is believable (after 1970, not later than a day
    after receipt), else the receipt time."""
    value = raw_header(msg, "Date")
    if not value:
        return received_at
    try:
        date = parsedate_to_datetime(clean_text(value).strip())
    except Exception:
        # parsedate raises TypeError, ValueError or IndexError on garbage.
        return received_at
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    if not EARLIEST_DATE <= date <= received_at + CLOCK_SKEW:
        return received_at
    return date.astimezone(UTC)


def body_and_attachments(msg: EmailMessage) -> tuple[str, list[AttachmentPart]]:
    """The text to display, and the other parts as attachments.

    Inline text/plain parts make the text (a list footer is one); without
    any, the first inline text/html part, converted to text. Inline HTML
    beside text is taken for its alternative and left to the raw message. An attached
    message is one attachment, not read into. Iterative: no nesting depth
    of multiparts can exhaust the stack.
    """
    texts: list[str] = []
    html: list[EmailMessage] = []
    attachments: list[AttachmentPart] = []
    stack: list[EmailMessage] = [msg]
    while stack:
        part = stack.pop()
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            stack.extend(reversed(part.get_payload()))
            continue
        content_type = part.get_content_type()
        filename = filename_of(part)
        inline = not filename and part.get_content_disposition() != "attachment"
        # A multipart whose boundary is missing is read as the text it holds.
        if inline and (content_type == "text/plain" or part.get_content_maintype() == "multipart"):
            text = part_text(part)
            if text is not None:
                texts.append(text)
                continue
        if inline and content_type == "text/html":
            html.append(part)
            continue
        attachments.append(AttachmentPart(filename, content_type[:255], part_content(part)))
    if texts:
        body = "\n".join(text.rstrip("\n") + "\n" for text in texts)
    elif html:
        body = html_text(part_text(html[0]) or "")
    else:
        body = ""
    return clean_text(body), attachments


def filename_of(part: EmailMessage) -> str:
    try:
        filename = part.get_filename() or ""
    except Exception:
        # RFC 2231 parameters in unknown charsets raise from deep in the email package.
        filename = ""
    return clean_text(filename).replace("/", "_").replace("\\", "_").strip()[:MAX_FILENAME]


def part_content(part: EmailMessage) -> bytes:
    """The decoded bytes of a leaf part; an attached message as its bytes."""
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        try:
            return inner.as_bytes() if inner is not None else b""
        except Exception:
            return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def html_text(html: str) -> str:
    """The text a reader sees in `html`; scripts, styles and markup dropped."""
    if not html.strip():
        return ""
    try:
        return get_text(html)
    except Exception:
        # inscriptis gives up on some hostile markup (deep nesting); the raw
        # message keeps the HTML, the display gets no text rather than markup.
        return ""
