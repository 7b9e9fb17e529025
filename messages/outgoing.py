"""Single messages the list sends outside delivery: the rejection notice to
a post's sender, and mail to -owner forwarded to the list's administrators
(the hold queue's notices are in messages.moderation_notices).

Each goes over SMTP to the site's server (EMAIL_HOST, EMAIL_PORT, ...)
with the list's -bounces address as envelope sender, so that bounces and
RFC 3834 auto-replies come back to the list and not to a person.
"""

import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from django.conf import settings
from django.utils.translation import gettext as _

from lists.models import MailingList, TemplateName
from members.models import DeliveryStatus, Membership, Role
from messages.pipeline.mime import UnparseableMessage, header_text, message_bytes, parse_message, raw_header

logger = logging.getLogger(__name__)

BARE_LINE_END = re.compile(rb"\r?\n|\r")
ADMINISTRATOR_ROLES = (Role.OWNER, Role.MODERATOR)


class SendError(Exception):
    """The SMTP server could not be reached or took none of the recipients; str() says why.

    `temporary` when trying again later may work: no connection, or 4xx replies.
    """

    def __init__(self, text: str, *, temporary: bool):
        super().__init__(text)
        self.temporary = temporary


def send_message(message: EmailMessage | bytes, *, mail_from: str, recipients: Sequence[str]) -> dict:
    """Hand `message` to the site's SMTP server for `recipients`.

    Returns the recipients the server refused ({address: (code, reply)})
    when it took at least one; raises SendError otherwise.
    """
    # RFC 5321 section 2.3.8: lines end in CRLF, in an attached post's body too.
    data = BARE_LINE_END.sub(b"\r\n", message_bytes(message) if isinstance(message, EmailMessage) else message)
    host, port = settings.EMAIL_HOST, settings.EMAIL_PORT
    try:
        with connect() as smtp:
            smtp.ehlo_or_helo_if_needed()
            options = ["BODY=8BITMIME"] if not data.isascii() and smtp.has_extn("8bitmime") else []
            refused = smtp.sendmail(mail_from, list(recipients), data, mail_options=options)
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP {host}:{port}: {exc}", temporary=is_temporary(exc)) from exc
    if refused:
        logger.warning("SMTP %s:%s refused %s", host, port, refused)
    return refused


def is_temporary(exc: Exception) -> bool:
    """A failure that may pass: the server unreachable or gone, or only 4xx replies."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reply in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, OSError | smtplib.SMTPServerDisconnected)


def connect() -> smtplib.SMTP:
    """An open, secured and authenticated connection as the settings describe."""
    timeout = settings.EMAIL_TIMEOUT
    if settings.EMAIL_USE_SSL:
        smtp = smtplib.SMTP_SSL(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=timeout)
    else:
        smtp = smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=timeout)
    try:
        if settings.EMAIL_USE_TLS and not settings.EMAIL_USE_SSL:
            smtp.starttls(context=ssl.create_default_context())
        if settings.EMAIL_HOST_USER:
            smtp.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
    except BaseException:
        smtp.close()
        raise
    return smtp


def list_administrators(mlist: MailingList) -> list[str]:
    """The addresses of the list's owners and moderators who take mail (Mailman's
    owner-recipients), never one of the list's own addresses."""
    emails = (
        Membership.objects.filter(
            mailing_list=mlist, role__in=ADMINISTRATOR_ROLES, delivery_status=DeliveryStatus.ENABLED
        )
        .order_by("address__email")
        .values_list("address__email", flat=True)
        .distinct()
    )
    own = f"@{mlist.domain.mail_host}"
    prefix = mlist.list_name
    return [email for email in emails if not (email.endswith(own) and email.startswith((f"{prefix}@", f"{prefix}-")))]


def forward_to_administrators(mlist: MailingList, raw: bytes) -> list[str]:
    """Send mail for -owner, exactly as it came, to the list's administrators; their addresses."""
    recipients = list_administrators(mlist)
    if not recipients:
        raise SendError(
            _("The list %(list)s has no owners or moderators to forward to.") % {"list": mlist}, temporary=False
        )
    send_message(raw, mail_from=mlist.subaddress("bounces"), recipients=recipients)
    return recipients


def is_automatic(msg: EmailMessage) -> bool:
    """The message is itself automatic: answering it could start a mail loop
    (RFC 3834 section 2: no automatic responses to automatic messages)."""
    auto_submitted = (raw_header(msg, "Auto-Submitted") or "no").strip().lower()
    precedence = (raw_header(msg, "Precedence") or "").strip().lower()
    return not auto_submitted.startswith("no") or precedence in {"bulk", "junk", "list"}


def make_notice(mlist: MailingList, to: str, subject: str, text: str) -> EmailMessage:
    """A plain text message from the list's -owner address to `to`."""
    notice = EmailMessage()
    notice["From"] = mlist.subaddress("owner")
    notice["To"] = to
    notice["Subject"] = subject
    notice["Date"] = formatdate(localtime=False)
    notice["Message-ID"] = make_msgid(domain=mlist.domain.mail_host)
    # RFC 3834 section 5: mark our answers so that auto-responders leave them be.
    notice["Auto-Submitted"] = "auto-replied"
    notice["Precedence"] = "bulk"
    notice.set_content(text)
    return notice


# RFC 5322 section 2.1.1: no line longer than 998 characters before its CRLF.
LONGEST_LINE = 998


def attach_original(notice: EmailMessage, original: EmailMessage | bytes) -> None:
    """Attach a post to `notice` as message/rfc822, or, when it cannot travel
    so (unparseable, not writable again, or with lines longer than SMTP
    takes: message/rfc822 may not be base64-encoded, RFC 2046 section
    5.2.1), as opaque bytes, base64-encoded."""
    try:
        msg = parse_message(original) if isinstance(original, bytes) else original
        data = message_bytes(msg)
    except (UnparseableMessage, ValueError, TypeError, LookupError, UnicodeError):
        msg, data = None, None
    if msg is not None and all(len(line.rstrip(b"\r")) <= LONGEST_LINE for line in data.split(b"\n")):
        notice.add_attachment(msg)
        return
    raw = original if isinstance(original, bytes) else (data or b"")
    notice.add_attachment(raw, maintype="application", subtype="octet-stream", filename="original-message.eml")


def send_rejection(mlist: MailingList, msg: EmailMessage, recipient: str, reasons: Sequence[str]) -> bool:
    """Tell `recipient` their post was rejected and why, with the post attached
    (Mailman's bounce_message, in the list's wording of POST_REJECTED).
    False when nobody should be told: no recipient, or the post is itself
    automatic."""
    # Imported here: members.notices sends its mails through this module.
    from members.notices import render

    if not recipient or is_automatic(msg):
        logger.info("No rejection notice for %s on %s", recipient or "a post without sender", mlist)
        return False
    subject = header_text(msg, "Subject") or _("(no subject)")
    lines = "\n".join(f"    {reason}" for reason in reasons) or "    " + _("No reason given")
    text = render(mlist, TemplateName.POST_REJECTED, subject=subject, reasons=lines, sender_email=recipient)
    notice = make_notice(mlist, recipient, _("Your message to %(list)s was rejected") % {"list": mlist}, text)
    attach_original(notice, msg)
    send_message(notice, mail_from=mlist.subaddress("bounces"), recipients=[recipient])
    return True
