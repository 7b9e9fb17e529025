"""The mails of the hold queue: the notice to moderators of each held post
(with the post attached and a token to decide by replying), the notice to
the post's sender that it waits, the daily summary of what waits, and the
owners' notice of posts that expired.

The texts are the list's wordings of Mailman's templates (HELD_NOTICE,
HELD_SENDER_NOTICE, PENDING_SUMMARY; members.notices.render). All of these
are best effort: the held post is safe in the queue whether or not a mail
went out, so a failure is logged, never raised.
"""

import logging
from collections.abc import Sequence
from datetime import timedelta
from email.message import EmailMessage

from django.conf import settings
from django.utils.translation import gettext as _

from lists.models import MailingList, TemplateName
from members import ratelimit, tokens
from members.commands import is_list_address
from members.models import SubscriptionRequest, TokenAction
from members.notices import confirm_address, list_url, render
from messages.models import HeldMessage
from messages.outgoing import (
    SendError,
    attach_original,
    is_automatic,
    list_administrators,
    make_notice,
    send_message,
)
from messages.pipeline.mime import UnparseableMessage, parse_message

logger = logging.getLogger(__name__)

# A held post's token lives as long as the post may wait; this long when the list keeps them.
KEPT_POST_TOKEN_DAYS = 90


def queue_url(mlist: MailingList) -> str:
    return f"{list_url(mlist)}held/"


def held_url(held: HeldMessage) -> str:
    return f"{queue_url(held.mailing_list)}{held.pk}/"


def reason_lines(reasons: Sequence[str]) -> str:
    return "\n".join(f"    {reason}" for reason in reasons) or "    " + _("No reason given")


def issue_held_token(held: HeldMessage) -> str:
    """A token that decides on `held` when a moderator replies with it (messages.moderation_mail)."""
    mlist = held.mailing_list
    days = mlist.max_days_to_hold or KEPT_POST_TOKEN_DAYS
    issued = tokens.issue(
        mlist,
        held.sender[:254],
        TokenAction.HELD_POST,
        {"held_message": held.pk},
        valid_for=timedelta(days=days),
        only_latest=False,
    )
    return issued.token


def send_held_notice(held_id: int) -> None:
    """Tell the list's administrators the post `held_id` waits (admin_immed_notify).

    The post is attached as message/rfc822; the notice's Subject carries
    `confirm TOKEN` and its Reply-To `list-confirm+TOKEN@`, so that a reply
    decides (see messages.moderation_mail).
    """
    held = HeldMessage.objects.select_related("mailing_list__domain", "inbound").get(pk=held_id)
    mlist = held.mailing_list
    recipients = list_administrators(mlist)
    if not recipients:
        return
    token = issue_held_token(held)
    text = render(
        mlist,
        TemplateName.HELD_NOTICE,
        sender_email=held.sender or _("(unknown sender)"),
        subject=held.subject or _("(no subject)"),
        reasons=reason_lines(held.reasons),
        token=token,
        confirm_email=confirm_address(mlist, token),
        held_url=held_url(held),
        queue_url=queue_url(mlist),
    )
    values = {"list": mlist.fqdn_listname, "sender": held.sender or _("(unknown sender)")}
    subject = _("%(list)s post from %(sender)s requires approval") % values
    notice = make_notice(mlist, mlist.subaddress("owner"), f"{subject} (confirm {token})", text)
    # As Mailman's confirmations: replies go to -confirm+TOKEN, or to -request keeping the Subject.
    notice.replace_header("From", mlist.subaddress("request"))
    notice["Reply-To"] = confirm_address(mlist, token)
    attach_original(notice, bytes(held.inbound.raw))
    send_quietly(notice, mlist, recipients, "held post notice")


def send_hold_acknowledgement(held_id: int) -> None:
    """Tell the sender of the post `held_id` that it waits for a moderator
    (Mailman's list:user:notice:hold); never to automatic mail, and at most
    settings.MODERATION_MAX_HOLD_NOTICES_PER_DAY a day per sender and list."""
    held = HeldMessage.objects.select_related("mailing_list__domain", "inbound").get(pk=held_id)
    mlist, sender = held.mailing_list, held.sender
    if not sender or is_list_address(sender) or not held.inbound.mail_from.strip("<> "):
        return
    try:
        msg = parse_message(bytes(held.inbound.raw))
    except UnparseableMessage:
        return
    if is_automatic(msg):
        return
    if ratelimit.count_today(f"hold_notices:{mlist.pk}", sender) > settings.MODERATION_MAX_HOLD_NOTICES_PER_DAY:
        logger.info("No more hold notices to %s on %s today", sender, mlist)
        return
    text = render(
        mlist,
        TemplateName.HELD_SENDER_NOTICE,
        sender_email=sender,
        subject=held.subject or _("(no subject)"),
        reasons=reason_lines(held.reasons),
    )
    subject = _("Your message to %(list)s awaits moderator approval") % {"list": mlist.fqdn_listname}
    notice = make_notice(mlist, sender, subject, text)
    notice.replace_header("From", mlist.subaddress("request"))
    send_quietly(notice, mlist, [sender], "hold notice")


def send_summary(
    mlist: MailingList, held: Sequence[HeldMessage], requests: Sequence[SubscriptionRequest], *, count: int
) -> bool:
    """The daily summary of what waits on `mlist` (PENDING_SUMMARY): `count`
    items in all, of which `held` and `requests` are listed; False when
    nothing was sent (nothing waits, or nobody to tell)."""
    recipients = list_administrators(mlist)
    if not recipients or not (held or requests):
        return False
    lines = [_("Held posts:")] if held else []
    lines += [f"    {item.held_at:%Y-%m-%d} {item.sender}: {item.subject or _('(no subject)')}" for item in held]
    if requests:
        lines += ["", _("Subscription requests:")] if lines else [_("Subscription requests:")]
        lines += [f"    {item.requested_at:%Y-%m-%d} {item.email}" for item in requests]
    text = render(
        mlist,
        TemplateName.PENDING_SUMMARY,
        count=str(count),
        data="\n".join(lines),
        queue_url=queue_url(mlist),
        requests_url=f"{list_url(mlist)}requests/",
    )
    subject = _("%(count)s moderation requests waiting for %(list)s") % {"count": count, "list": mlist.fqdn_listname}
    return send_quietly(make_notice(mlist, mlist.subaddress("owner"), subject, text), mlist, recipients, "summary")


def send_expiry_notice(mlist: MailingList, expired: Sequence[HeldMessage]) -> bool:
    """Tell the owners and moderators which held posts expired unseen."""
    recipients = list_administrators(mlist)
    if not recipients or not expired:
        return False
    text = render(
        mlist,
        TemplateName.EXPIRED_NOTICE,
        days=str(mlist.max_days_to_hold),
        data="\n".join(
            f"    {item.held_at:%Y-%m-%d} {item.sender}: {item.subject or _('(no subject)')}" for item in expired
        ),
        log_url=f"{list_url(mlist)}moderation-log/",
    )
    subject = _("Held posts to %(list)s expired") % {"list": mlist.fqdn_listname}
    return send_quietly(make_notice(mlist, mlist.subaddress("owner"), subject, text), mlist, recipients, "expiry")


def send_quietly(notice: EmailMessage, mlist: MailingList, recipients: list[str], what: str) -> bool:
    try:
        send_message(notice, mail_from=mlist.subaddress("bounces"), recipients=recipients)
    except SendError:
        logger.warning("Could not send the %s of %s to %s", what, mlist, ", ".join(recipients), exc_info=True)
        return False
    return True
