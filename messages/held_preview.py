"""A safe look at a held post for the moderator deciding on it.

Everything here is plain data, text to be shown escaped: the headers
decoded, the first text/plain part, and when the post has none the source
of its first text/html part (as text, never to be rendered); every leaf
part by type, name and size, never its content. A post whose MIME is
broken, whose charsets are unknown or whose headers are hostile gives
what can be read, never an error.
"""

from email.message import EmailMessage

from messages.models import HeldMessage
from messages.pipeline.mime import (
    UnparseableMessage,
    clean_text,
    decode_header_value,
    first_text_plain,
    parse_message,
    part_text,
)
from messages.rules.approved import pop_password

# A preview shows this much of the text; the rest is only counted.
PREVIEW_CHARACTERS = 100_000
# Parts listed at most: a hostile post may have thousands.
PREVIEW_PARTS = 200


def preview(held: HeldMessage) -> dict:
    """The preview of `held`: size, headers, text (or html_source), parts."""
    raw = bytes(held.inbound.raw)
    empty = {"size": len(raw), "headers": [], "text": "", "text_truncated": False, "html_source": "", "parts": []}
    try:
        msg = parse_message(raw)
    except UnparseableMessage:
        return {**empty, "text": clean_text(raw[:PREVIEW_CHARACTERS].decode("utf-8", "replace"))}
    # The sender's (wrong) moderator password is nobody else's business.
    try:
        pop_password(msg)
    except Exception:  # a broken body keeps whatever it says
        return {**empty, "headers": headers_of(msg), "parts": parts_of(msg)}
    text = readable(first_text_plain(msg))
    html = "" if text else readable(first_part(msg, "text/html"))
    return {
        **empty,
        "headers": headers_of(msg),
        "text": text[:PREVIEW_CHARACTERS],
        "text_truncated": len(text or html) > PREVIEW_CHARACTERS,
        "html_source": html[:PREVIEW_CHARACTERS],
        "parts": parts_of(msg),
    }


def headers_of(msg: EmailMessage) -> list[list[str]]:
    return [[clean_text(name), decode_header_value(str(value))] for name, value in msg.raw_items()]


def readable(part: EmailMessage | None) -> str:
    if part is None:
        return ""
    try:
        return clean_text(part_text(part) or "")
    except Exception:  # an undecodable body previews as nothing
        return ""


def first_part(msg: EmailMessage, content_type: str) -> EmailMessage | None:
    for part in msg.walk():
        if not part.is_multipart() and part.get_content_type() == content_type:
            return part
    return None


def parts_of(msg: EmailMessage) -> list[dict]:
    parts = []
    for leaf in msg.walk():
        if leaf.is_multipart():
            continue
        if len(parts) == PREVIEW_PARTS:
            break
        parts.append(describe(leaf))
    return parts


def describe(leaf: EmailMessage) -> dict:
    try:
        filename = decode_header_value(leaf.get_filename() or "")
    except Exception:  # a mangled name parameter
        filename = ""
    try:
        payload = leaf.get_payload(decode=True)
    except Exception:  # a mangled transfer encoding
        payload = None
    size = len(payload) if isinstance(payload, bytes) else 0
    return {"content_type": leaf.get_content_type(), "filename": filename, "size": size}
