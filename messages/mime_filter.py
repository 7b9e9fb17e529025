"""The MIME filter's work on one message (Mailman's mime-delete), in place.

In Mailman's order: parts are removed by type and file name extension;
each multipart/alternative gives way to its first part; a multipart left
with one part becomes that part; HTML becomes plain text. A message left
with nothing raises Filtered, and the list's filter_action decides what
becomes of it.

Two choices differ from Mailman, and say why:

- Pass types judge the parts that hold content, not the multiparts around
  them: with `text/plain` alone a multipart/mixed post keeps its text
  rather than being refused whole (Mailman needs multipart/mixed and
  multipart/alternative listed too; lists that list them behave the same).
- Signed and encrypted parts (multipart/signed, multipart/encrypted, RFC
  1847) are left exactly as they came, inside as well: removing or
  converting anything in them would break the signature, silently, for
  every reader. Only their own type can filter them out, whole.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart

from django.utils.translation import gettext as _
from inscriptis import get_text

from messages.pipeline.mime import clean_text, decode_header_value, part_text

logger = logging.getLogger(__name__)

SEALED_TYPES = frozenset({"multipart/signed", "multipart/encrypted"})
FILTERED_BY_HEADER = "X-Content-Filtered-By"
# Mail clients and scanners append text after </html>, which lxml's parser
# would drop; without the closing tags it reads on as browsers do.
CLOSING_DOCUMENT_TAGS = re.compile(r"</\s*(?:body|html)\s*>", re.IGNORECASE)
# RFC 5322 section 2.1.1: no line may pass 998 characters.
MAX_LINE_LENGTH = 998


class Filtered(Exception):
    """Nothing of the message is left to post; str() says why, for people."""


@dataclass(frozen=True)
class FilterSettings:
    """A list's MIME filter settings, read once: types lower-cased, "image"
    and "image/*" alike meaning every image type, extensions without dots."""

    filter_types: frozenset[str]
    filter_extensions: frozenset[str]
    pass_types: frozenset[str]
    pass_extensions: frozenset[str]
    collapse_alternatives: bool
    convert_html_to_plaintext: bool

    @classmethod
    def of(cls, mlist) -> FilterSettings:
        return cls(
            filter_types=mime_types(mlist.filter_types),
            filter_extensions=extensions(mlist.filter_extensions),
            pass_types=mime_types(mlist.pass_types),
            pass_extensions=extensions(mlist.pass_extensions),
            collapse_alternatives=mlist.collapse_alternatives,
            convert_html_to_plaintext=mlist.convert_html_to_plaintext,
        )


def mime_types(text: str) -> frozenset[str]:
    return frozenset(line.strip().lower().removesuffix("/*") for line in text.splitlines() if line.strip())


def extensions(text: str) -> frozenset[str]:
    return frozenset(line.strip().lower().lstrip("*").lstrip(".") for line in text.splitlines() if line.strip())


def filter_message(msg: EmailMessage, settings: FilterSettings) -> bool:
    """Filter `msg` in place as `settings` say; whether anything changed.
    Filtered when nothing is left to post."""
    refusal = refusal_of(msg, settings)
    if refusal:
        raise Filtered(refusal)
    if msg.get_content_type() in SEALED_TYPES:
        return False
    before = outline(msg)
    if not keep_wanted_parts(msg, settings):
        raise Filtered(_("After content filtering, the message was empty"))
    if settings.collapse_alternatives:
        collapse_alternatives(msg)
    flatten(msg)
    converted = convert_html(msg) if settings.convert_html_to_plaintext else 0
    changed = converted > 0 or outline(msg) != before
    if changed:
        del msg[FILTERED_BY_HEADER]
        msg[FILTERED_BY_HEADER] = "mime-delete"
    return changed


def refusal_of(part: EmailMessage, settings: FilterSettings) -> str:
    """Why `part` is filtered out, in Mailman's words; "" when it is not."""
    types = {part.get_content_type(), part.get_content_maintype()}
    if types & settings.filter_types:
        return _("The message's content type was explicitly disallowed")
    if settings.pass_types and part.get_content_maintype() != "multipart" and not types & settings.pass_types:
        return _("The message's content type was not explicitly allowed")
    extension = file_extension(part)
    if extension and extension in settings.filter_extensions:
        return _("The message's file extension was explicitly disallowed")
    if extension and settings.pass_extensions and extension not in settings.pass_extensions:
        return _("The message's file extension was not explicitly allowed")
    return ""


def file_extension(part: EmailMessage) -> str:
    """The lower-cased extension of the part's file name, without the dot; "" without one."""
    try:
        filename = part.get_filename() or part.get_param("name") or ""
    except Exception:
        # A parameter broken past what the parser forgives names no file.
        return ""
    if not isinstance(filename, str):
        return ""
    return os.path.splitext(decode_header_value(filename))[1].lstrip(".").lower()


def keep_wanted_parts(part: EmailMessage, settings: FilterSettings) -> bool:
    """Remove the filtered-out parts under `part`, depth first, attached
    messages included; False when it had parts and none is left."""
    if not part.is_multipart() or part.get_content_type() in SEALED_TYPES:
        return True
    children = part.get_payload()
    kept = [child for child in children if not refusal_of(child, settings) and keep_wanted_parts(child, settings)]
    if len(kept) != len(children):
        part.set_payload(kept)
    return bool(kept) or not children


def collapse_alternatives(part: EmailMessage) -> None:
    """Replace each multipart/alternative with its first part (the plainest,
    RFC 2046 section 5.1.4)."""
    if not part.is_multipart() or part.get_content_type() in SEALED_TYPES:
        return
    children = part.get_payload()
    if part.get_content_type() == "multipart/alternative" and children:
        take_content(part, children[0])
        collapse_alternatives(part)
        return
    for child in children:
        collapse_alternatives(child)


def flatten(part: EmailMessage) -> None:
    """Make each multipart holding a single part that part (an attached
    message keeps its headers: its content is what is flattened)."""
    if not part.is_multipart() or part.get_content_type() in SEALED_TYPES:
        return
    children = part.get_payload()
    if part.get_content_maintype() == "multipart" and len(children) == 1:
        take_content(part, children[0])
        flatten(part)
        return
    for child in children:
        flatten(child)


def take_content(part: EmailMessage, child: EmailMessage) -> None:
    """Give `part` the content of its `child`: the child's Content-*
    headers and body, exactly as they are (nothing is encoded anew), and
    `part`'s other headers, which matter on a message or attached message."""
    for name in {name.lower() for name in part.keys() if name.lower().startswith("content-")}:
        del part[name]
    for name, value in child.raw_items():
        if name.lower().startswith("content-"):
            part.set_raw(name, value)
    if "content-type" not in child:
        # Its type was the default of its place (message/rfc822 in a digest).
        part["Content-Type"] = child.get_content_type()
    part.set_payload(child.get_payload())
    part.preamble, part.epilogue = child.preamble, child.epilogue


def convert_html(part: EmailMessage) -> int:
    """Turn each text/html part that is the message's text (not an
    attachment, not sealed) into text/plain; how many were."""
    if part.get_content_type() in SEALED_TYPES:
        return 0
    if part.is_multipart():
        return sum(convert_html(child) for child in part.get_payload())
    if part.get_content_type() != "text/html" or part.is_attachment():
        return 0
    html = clean_text(part_text(part) or "")
    try:
        text = get_text(CLOSING_DOCUMENT_TAGS.sub("", html))
    except Exception:
        # The parser gave up on this input: the part goes on as HTML rather
        # than the post being stopped.
        logger.warning("An HTML part could not be converted to text; it is kept as HTML", exc_info=True)
        return 0
    set_plain_text(part, clean_text(text))
    return 1


def set_plain_text(part: EmailMessage, text: str) -> None:
    """Make `part` a UTF-8 text/plain part holding `text`, keeping its disposition."""
    disposition = part.get("content-disposition")
    long_lines = any(len(line.encode()) > MAX_LINE_LENGTH for line in text.split("\n"))
    cte = "7bit" if text.isascii() and not long_lines else "quoted-printable"
    MIMEPart.set_content(part, text, subtype="plain", charset="utf-8", cte=cte)
    if disposition is not None:
        part["Content-Disposition"] = disposition


def outline(msg: EmailMessage) -> list[str]:
    """The content types of every part, in order: what filtering may change."""
    return [part.get_content_type() for part in msg.walk()]
