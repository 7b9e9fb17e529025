"""The decorate handler: the list's header and footer around each post."""

import logging
from email.message import EmailMessage, MIMEPart

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from lists.models import MailingList
from messages.handlers.rfc_2369 import list_url
from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import part_text, set_part_text

logger = logging.getLogger(__name__)

# Mailman's default footer plus the list's page. Lists cannot set their own
# header and footer yet: MailingList has no field for them.
FOOTER = gettext_noop(
    "_______________________________________________\n"
    "%(display_name)s mailing list -- %(posting_address)s\n"
    "To unsubscribe send an email to %(leave_address)s\n"
    "%(list_url)s\n"
)


@register_handler
class Decorate(Handler):
    """Add the list's header and footer the least intrusive way (Mailman's).

    A lone text/plain body gets them as text, in its own charset when they
    fit (else the body becomes UTF-8). A multipart/mixed post gets them as
    inline text/plain parts. Anything else (HTML, alternatives, signed
    mail) is wrapped whole in a new multipart/mixed, so signatures stay valid.
    """

    name = "decorate"
    description = gettext_lazy("Add the list's header and footer.")

    def process(self, mlist, msg, state):
        header, footer = decorations(mlist)
        if not header and not footer:
            return
        if msg.get_content_type() == "text/plain" and not msg.is_multipart() and add_as_text(msg, header, footer):
            return
        if msg.get_content_maintype() == "multipart" and not msg.is_multipart():
            logger.warning("Not decorating a multipart message whose parts cannot be found: %s", msg["Message-ID"])
            return
        if msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        if header:
            msg.get_payload().insert(0, text_part(header))
        if footer:
            msg.attach(text_part(footer))
        if "MIME-Version" not in msg:
            msg["MIME-Version"] = "1.0"


def decorations(mlist: MailingList) -> tuple[str, str]:
    """The list's (header, footer) texts; either may be empty."""
    footer = _(FOOTER) % {
        "display_name": mlist.display_name or mlist.list_name,
        "posting_address": mlist.posting_address,
        "leave_address": mlist.subaddress("leave"),
        "list_url": list_url(mlist),
    }
    return "", footer


def add_as_text(msg: EmailMessage, header: str, footer: str) -> bool:
    """Put header and footer into the text of a text/plain message; False
    when its text cannot be decoded exactly (unknown charset, bad bytes)."""
    text = part_text(msg, strict=True)
    if text is None:
        return False
    if header and not header.endswith("\n"):
        header += "\n"
    if footer and text and not text.endswith("\n"):
        text += "\n"
    set_part_text(msg, header + text + footer)
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    return True


def text_part(text: str) -> MIMEPart:
    part = MIMEPart()
    cte = "7bit" if text.isascii() else "quoted-printable"
    part.set_content(text, charset="utf-8", cte=cte, disposition="inline")
    return part
