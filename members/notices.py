"""The mails of the subscription lifecycle: confirmation requests,
invitations, welcome and goodbye messages, and the notices to owners and
refused requesters.

Each body comes from the list's own wording (ListTemplate for the list),
else the site's (ListTemplate without a list), else the default Django
template under members/templates/members/mail/. Owners' wordings use
Mailman's $placeholders, substituted as plain text; the defaults are
translatable templates with the same names ({{ display_name }} ...).

A confirmation or invitation mail carries its token in the Subject
(`confirm TOKEN`) and in Reply-To (`list-confirm+TOKEN@domain`), as
Mailman's do, so replying confirms; and a link to the confirmation page.
These raise SendError when the mail cannot be sent (the request is then
not made); the others are best effort and log a failure.

The welcomes and goodbyes of a mass change go through the workers
(`send_later`), a message for up to MAILS_PER_MESSAGE addresses, so that
the owner's request does not wait for thousands of SMTP transactions.
"""

import logging
from collections.abc import Sequence
from string import Template

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from lists.models import ListTemplate, MailingList, TemplateName
from messages.outgoing import SendError, list_administrators, make_notice, send_message

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATES: dict[str, str] = {
    TemplateName.WELCOME: "members/mail/welcome.txt",
    TemplateName.GOODBYE: "members/mail/goodbye.txt",
    TemplateName.CONFIRM_SUBSCRIBE: "members/mail/confirm_subscribe.txt",
    TemplateName.CONFIRM_UNSUBSCRIBE: "members/mail/confirm_unsubscribe.txt",
    TemplateName.INVITATION: "members/mail/invitation.txt",
    TemplateName.REQUEST_NOTICE: "members/mail/request_notice.txt",
    TemplateName.REQUEST_REFUSED: "members/mail/request_refused.txt",
    TemplateName.HELD_NOTICE: "members/mail/held_notice.txt",
    TemplateName.HELD_SENDER_NOTICE: "members/mail/held_sender_notice.txt",
    TemplateName.POST_REJECTED: "members/mail/post_rejected.txt",
    TemplateName.PENDING_SUMMARY: "members/mail/pending_summary.txt",
    TemplateName.EXPIRED_NOTICE: "members/mail/expired_notice.txt",
}


def list_url(mlist: MailingList) -> str:
    return f"{settings.SITE_URL}/lists/{mlist.list_id}/"


def confirm_url(mlist: MailingList, token: str) -> str:
    """The page that confirms `token` (subscription, unsubscription or invitation)."""
    return f"{list_url(mlist)}confirm/{token}/"


def requests_url(mlist: MailingList) -> str:
    """The owners' page of pending subscription requests."""
    return f"{list_url(mlist)}requests/"


def confirm_address(mlist: MailingList, token: str) -> str:
    return f"{mlist.list_name}-confirm+{token}@{mlist.domain.mail_host}"


def list_context(mlist: MailingList) -> dict[str, str]:
    """The placeholders every template may use (Mailman's names where it has them)."""
    return {
        "listname": mlist.fqdn_listname,
        "short_listname": mlist.list_name,
        "display_name": mlist.display_name or mlist.list_name,
        "list_id": mlist.list_id,
        "domain": mlist.domain.mail_host,
        "description": mlist.description,
        "info": mlist.info,
        "posting_address": mlist.posting_address,
        "request_email": mlist.subaddress("request"),
        "owner_email": mlist.subaddress("owner"),
        "list_url": list_url(mlist),
    }


def render(mlist: MailingList, name: str, **values: str) -> str:
    """The text of the mail `name` for `mlist`, with `values` filled in."""
    context = {**list_context(mlist), **{key: str(value) for key, value in values.items()}}
    override = (
        ListTemplate.objects.filter(mailing_list=mlist, name=name).first()
        or ListTemplate.objects.filter(mailing_list__isnull=True, name=name).first()
    )
    if override is not None:
        # safe_substitute: an unknown $word in an owner's text stays as written.
        text = Template(override.text).safe_substitute(context)
    else:
        text = render_to_string(DEFAULT_TEMPLATES[name], context)
    return text.strip() + "\n"


def send_confirmation(mlist: MailingList, email: str, token: str, name: str, **values: str) -> None:
    """Send the confirmation request (or invitation) `name` carrying `token`; SendError if it cannot go."""
    text = render(
        mlist,
        name,
        user_email=email,
        token=token,
        confirm_url=confirm_url(mlist, token),
        confirm_email=confirm_address(mlist, token),
        expiry_days=str(mlist.confirmation_expiry_days),
        **values,
    )
    # Mailman's subject: the reply's "Re: confirm TOKEN" confirms even when
    # the mail program drops Reply-To.
    notice = _user_mail(mlist, email, f"confirm {token}", text)
    notice["Reply-To"] = confirm_address(mlist, token)
    send_message(notice, mail_from=mlist.subaddress("bounces"), recipients=[email])


def send_welcome(mlist: MailingList, email: str, display_name: str = "") -> None:
    subject = _('Welcome to the "%(list)s" mailing list') % {"list": mlist.display_name or mlist.list_name}
    text = render(mlist, TemplateName.WELCOME, user_email=email, user_name=display_name or email)
    _send_quietly(_user_mail(mlist, email, subject, text), mlist, [email], "welcome")


def send_goodbye(mlist: MailingList, email: str) -> None:
    subject = _('You have left the "%(list)s" mailing list') % {"list": mlist.display_name or mlist.list_name}
    text = render(mlist, TemplateName.GOODBYE, user_email=email)
    _send_quietly(_user_mail(mlist, email, subject, text), mlist, [email], "goodbye")


# Addresses in one message of the send_membership_mails actor (members.tasks).
MAILS_PER_MESSAGE = 500


def send_later(mlist: MailingList, kind: str, emails: Sequence[str]) -> None:
    """Have the workers send the `kind` mail ("welcome" or "goodbye") to
    each of `emails`, in the language active now. Sent here instead when
    nobody would run the message (an in-process broker without its
    workers) or the broker cannot take it: the mails are not dropped."""
    from mailman_site.broker import runs_sent_work
    from members.tasks import send_membership_mails

    if not runs_sent_work(send_membership_mails.broker):
        send_now(mlist, kind, emails)
        return
    language = translation.get_language()
    for start in range(0, len(emails), MAILS_PER_MESSAGE):
        chunk = list(emails[start : start + MAILS_PER_MESSAGE])
        try:
            send_membership_mails.send(mlist.pk, kind, chunk, language)
        except Exception:
            logger.exception("could not queue %d %s mails of %s; sending them now", len(chunk), kind, mlist)
            send_now(mlist, kind, chunk)


def send_now(mlist: MailingList, kind: str, emails: Sequence[str]) -> None:
    """The `kind` mail ("welcome" or "goodbye") to each of `emails`, one after the other."""
    send = MEMBERSHIP_MAILS[kind]
    for email in emails:
        send(mlist, email)


def send_request_notice(mlist: MailingList, email: str) -> None:
    """Tell the list's owners and moderators a subscription awaits their approval."""
    recipients = list_administrators(mlist)
    if not recipients:
        return
    subject = _("New subscription request to %(list)s from %(email)s") % {"list": mlist, "email": email}
    text = render(mlist, TemplateName.REQUEST_NOTICE, user_email=email, requests_url=requests_url(mlist))
    notice = make_notice(mlist, mlist.subaddress("owner"), subject, text)
    _send_quietly(notice, mlist, recipients, "subscription request notice")


def send_refusal(mlist: MailingList, email: str, reason: str) -> None:
    """Tell `email` an owner rejected their request, with the owner's reason."""
    subject = _("Your request to join %(list)s was rejected") % {"list": mlist}
    text = render(mlist, TemplateName.REQUEST_REFUSED, user_email=email, reason=reason)
    _send_quietly(_user_mail(mlist, email, subject, text), mlist, [email], "refusal")


MEMBERSHIP_MAILS = {"welcome": send_welcome, "goodbye": send_goodbye}


def _user_mail(mlist: MailingList, email: str, subject: str, text: str):
    notice = make_notice(mlist, email, subject, text)
    # As Mailman: mail about one's membership comes from -request, where
    # commands go.
    notice.replace_header("From", mlist.subaddress("request"))
    return notice


def _send_quietly(notice, mlist: MailingList, recipients: list[str], what: str) -> None:
    try:
        send_message(notice, mail_from=mlist.subaddress("bounces"), recipients=recipients)
    except SendError:
        logger.warning("Could not send the %s of %s to %s", what, mlist, ", ".join(recipients), exc_info=True)
