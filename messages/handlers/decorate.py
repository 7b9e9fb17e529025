"""The decorate handler: the list's header and footer around each post."""

import logging
from email.message import EmailMessage, MIMEPart
from enum import StrEnum

from django.utils.translation import gettext_lazy

from lists.models import Personalization
from messages.footers import load_decorations
from messages.list_configuration import configuration_of
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import part_text, set_part_text

logger = logging.getLogger(__name__)

# RFC 5322 section 2.1.1: no line of a message may pass 998 characters.
MAX_LINE_LENGTH = 998
LINE_PRESERVING_ENCODINGS = ("", "7bit", "8bit", "binary")
# Inline OpenPGP (RFC 4880 section 6.2): text that must reach readers as written.
PGP_ARMOR = ("-----BEGIN PGP MESSAGE-----", "-----BEGIN PGP SIGNED MESSAGE-----")


class Shape(StrEnum):
    """How a message takes a header and footer (Mailman's choice)."""

    INLINE = "inline"  # a lone text/plain body: into its text
    PARTS = "parts"  # multipart/mixed: as parts of their own, first and last
    WRAP = "wrap"  # anything else: wrapped whole in a multipart/mixed beside them
    NONE = "none"  # a multipart whose parts cannot be found: left alone


@register_handler
class Decorate(Handler):
    """Add the list's header and footer the least intrusive way (Mailman's).

    A lone text/plain body gets them as text, in its own charset when they
    fit (else the body becomes UTF-8). A multipart/mixed post gets them as
    inline text/plain parts. Anything else (HTML, alternatives, signed or
    encrypted mail, attachments, bodies in unknown charsets) is wrapped
    whole in a new multipart/mixed, so nothing inside it changes.

    A personalized list's copies are decorated at delivery instead, each
    with its member's placeholders (messages.personalize); its stored post
    stays undecorated, as Mailman archives posts.
    """

    name = "decorate"
    description = gettext_lazy("Add the list's header and footer.")

    def process(self, mlist, msg, state):
        if mlist.personalize != Personalization.NONE:
            return
        decorations = load_decorations(mlist, texts=configuration_of(mlist, state).decoration_texts)
        decorate_message(msg, decorations.header.text(), decorations.footer.text())


def decorate_message(msg: EmailMessage, header: str, footer: str, *, part_encoding: str = "") -> Shape:
    """Put `header` and `footer` (either may be empty) around `msg`, in
    place; returns how. New parts are UTF-8 in `part_encoding` (by default
    7bit where that can carry the text, else quoted-printable)."""
    if not header and not footer:
        return Shape.NONE
    shape, text = shape_of(msg)
    if shape is Shape.NONE:
        logger.warning("Not decorating a multipart message whose parts cannot be found: %s", msg["Message-ID"])
        return shape
    if shape is Shape.INLINE:
        add_inline(msg, text or "", header, footer)
        return shape
    if shape is Shape.WRAP:
        msg.make_mixed()
    if header:
        msg.get_payload().insert(0, text_part(header, part_encoding))
    if footer:
        msg.attach(text_part(footer, part_encoding))
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    return shape


def shape_of(msg: EmailMessage) -> tuple[Shape, str | None]:
    """How `msg` takes decorations, and for Shape.INLINE its text."""
    if msg.get_content_maintype() == "multipart" and not msg.is_multipart():
        return Shape.NONE, None
    if msg.get_content_type() == "text/plain" and not msg.is_multipart() and not msg.is_attachment():
        text = part_text(msg, strict=True)
        if text is not None and not any(armor in text for armor in PGP_ARMOR):
            return Shape.INLINE, text
    if msg.get_content_type() == "multipart/mixed":
        return Shape.PARTS, None
    return Shape.WRAP, None


def add_inline(msg: EmailMessage, text: str, header: str, footer: str) -> None:
    """Make `header`, `text` and `footer` the text of the text/plain `msg`
    (see set_part_text for its charset and encoding)."""
    if header and not header.endswith("\n"):
        header += "\n"
    if footer and text and not text.endswith("\n"):
        text += "\n"
    cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
    if cte in LINE_PRESERVING_ENCODINGS and has_long_line(header + footer):
        # Quoted-printable folds what would pass the limit; set_part_text keeps it.
        del msg["Content-Transfer-Encoding"]
        msg["Content-Transfer-Encoding"] = "quoted-printable"
    set_part_text(msg, header + text + footer)
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"


def text_part(text: str, encoding: str = "") -> MIMEPart:
    """An inline UTF-8 text/plain part holding `text`."""
    if not encoding:
        encoding = "7bit" if text.isascii() and not has_long_line(text) else "quoted-printable"
    part = MIMEPart()
    part.set_content(text, charset="utf-8", cte=encoding, disposition="inline")
    return part


def has_long_line(text: str) -> bool:
    return any(len(line.encode("utf-8", "surrogateescape")) > MAX_LINE_LENGTH for line in text.split("\n"))
