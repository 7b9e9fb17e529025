"""The hold queue: posts a rule held, and the moderators' decisions on them.

Each decision is taken once: the first of two moderators wins, the second
gets AlreadyDecided. Web pages (messages.moderation_views), the API, Django
admin, replies by mail (messages.moderation_mail) and the expiry job all
call these functions, and each decision writes its record in the
moderation log (messages.moderation_log) in the same transaction, saying
`via` which of them it came.
"""

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lists.models import Action, MailingList
from mailman_site.events import emit
from members.models import Membership, RequestStatus, Role, SubscriptionRequest
from members.services import AlreadySubscribed, InvalidAddress, InvalidBan, ban, subscribe, update_membership
from messages import moderation_notices
from messages.models import HeldMessage, HeldStatus, InboundMessage, InboundStatus, Post
from messages.moderation_log import Action as Logged
from messages.moderation_log import Via, record
from messages.outgoing import SendError, send_rejection
from messages.pipeline import PostState
from messages.pipeline.mime import header_text, parse_message

logger = logging.getLogger(__name__)

Moderator = AbstractBaseUser | AnonymousUser | None


class ModerationError(Exception):
    """Base of this module's errors; str() is a message for people."""


class AlreadyDecided(ModerationError):
    def __init__(self, held: HeldMessage):
        super().__init__(_("This message has already been %(status)s.") % {"status": held.get_status_display()})


class NoticeNotSent(ModerationError):
    """The rejection notice could not be sent, so nothing was decided."""


class ReleaseFailed(ModerationError):
    """The approved post could not be processed, so it is still held."""


class SenderNotChanged(ModerationError):
    """The sender could not be accepted or banned (no valid address), so nothing was decided."""


def hold(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, state: PostState) -> HeldMessage:
    """Put the post in the hold queue with the reasons the rules gave.

    Run it inside the caller's transaction; after it commits the sender is
    told their post waits (when the list says so, and not for spam), and
    the administrators (when the list says so) that it does, with a token
    to decide by replying.
    """
    held, _created = HeldMessage.objects.update_or_create(
        inbound=inbound,
        defaults={
            "mailing_list": mlist,
            "sender": (state.moderation_sender or state.sender)[:998],
            "subject": header_text(msg, "Subject"),
            "reasons": list(state.reasons),
            "status": HeldStatus.PENDING,
            "decided_at": None,
            "decided_by": None,
            "decision_reason": "",
        },
    )
    emit("message_held", held=held)
    if mlist.admin_immed_notify:
        transaction.on_commit(partial(moderation_notices.send_held_notice, held.pk), robust=True)
    # Spam's senders are mostly forged: telling them would be backscatter.
    if mlist.respond_to_post_requests and "spam" not in state.rule_hits:
        transaction.on_commit(partial(moderation_notices.send_hold_acknowledgement, held.pk), robust=True)
    return held


def approve(held: HeldMessage, user: Moderator, *, via: str = Via.WEB, actor_email: str = "") -> Post | None:
    """Release the post: it goes through the chain as approved, then the
    handlers and delivery, exactly as a post accepted on arrival.

    Returns the stored Post (None only if a rule before `approved` in the
    list's chain decided otherwise). All or nothing: on ReleaseFailed the
    message is still held. `via` and `actor_email` (who, for a decision by
    mail) go to the moderation log, as for every decision below.
    """
    # Imported here because dispatch imports this module.
    from messages.dispatch import process_post

    try:
        with transaction.atomic():
            inbound = decide(
                held, HeldStatus.APPROVED, user, InboundStatus.PROCESSING, via=via, actor_email=actor_email
            )
            state = process_post(inbound, approved=True)
    except ModerationError:
        raise
    except Exception as exc:
        logger.exception("Approving held message %s failed", held.pk)
        raise ReleaseFailed(_("The post could not be released: %(error)s") % {"error": exc}) from exc
    return state.post


def reject(held: HeldMessage, user: Moderator, reason: str = "", *, via: str = Via.WEB, actor_email: str = "") -> None:
    """Refuse the post and tell its sender why; on NoticeNotSent nothing changed."""
    reason = reason.strip()
    with transaction.atomic():
        inbound = decide(
            held, HeldStatus.REJECTED, user, InboundStatus.REJECTED, reason, via=via, actor_email=actor_email
        )
        msg = parse_message(inbound.raw)
        try:
            send_rejection(held.mailing_list, msg, held.sender, [reason or _("No reason given")])
        except SendError as exc:
            raise NoticeNotSent(_("The rejection notice could not be sent: %(error)s") % {"error": exc}) from exc


def discard(held: HeldMessage, user: Moderator, *, via: str = Via.WEB, actor_email: str = "") -> None:
    """Drop the post without telling anyone."""
    with transaction.atomic():
        decide(held, HeldStatus.DISCARDED, user, InboundStatus.DISCARDED, via=via, actor_email=actor_email)


@transaction.atomic
def defer(held: HeldMessage, user: Moderator, *, via: str = Via.WEB, actor_email: str = "") -> None:
    """Leave the post pending (Mailman's defer); the log notes that someone looked."""
    if not HeldMessage.objects.filter(pk=held.pk, status=HeldStatus.PENDING).exists():
        held.refresh_from_db()
        raise AlreadyDecided(held)
    record(held.mailing_list, Logged.DEFERRED, via=via, user=user, actor_email=actor_email, held=held)


def approve_and_accept_sender(held: HeldMessage, user: Moderator, *, via: str = Via.WEB) -> Post | None:
    """Approve the post and let its sender's later posts through unmoderated:
    their member record's moderation action, else their nonmember record's,
    becomes accept. All or nothing."""
    with transaction.atomic():
        accept_sender(held, user, via=via)
        return approve(held, user, via=via)


def discard_and_ban_sender(held: HeldMessage, user: Moderator, *, via: str = Via.WEB) -> None:
    """Discard the post and ban its sender from the list. All or nothing."""
    with transaction.atomic():
        discard(held, user, via=via)
        try:
            ban(held.mailing_list, held.sender)
        except InvalidBan as exc:
            raise SenderNotChanged(_("The sender could not be banned: %(error)s") % {"error": exc}) from exc
        record(held.mailing_list, Logged.SENDER_BANNED, via=via, user=user, held=held)


def accept_sender(held: HeldMessage, user: Moderator, *, via: str) -> Membership:
    """Set the moderation action of `held`'s sender on its list to accept."""
    mlist, email = held.mailing_list, held.sender
    records = Membership.objects.filter(mailing_list=mlist, address__email=email.lower())
    membership = records.filter(role=Role.MEMBER).first() or records.filter(role=Role.NONMEMBER).first()
    if membership is None:
        try:
            membership = subscribe(mlist, email, role=Role.NONMEMBER)
        except (InvalidAddress, AlreadySubscribed) as exc:
            raise SenderNotChanged(_("The sender could not be recorded: %(error)s") % {"error": exc}) from exc
    update_membership(membership, moderation_action=Action.ACCEPT)
    record(mlist, Logged.SENDER_ACCEPTED, via=via, user=user, held=held)
    return membership


def decide(
    held: HeldMessage,
    status: str,
    user: Moderator,
    inbound_status: str,
    reason: str = "",
    *,
    via: str,
    actor_email: str = "",
) -> InboundMessage:
    """Record the decision if the message is still pending (AlreadyDecided if
    not), log it, and move its inbound message on; returns the inbound message."""
    decided_by = user if user is not None and user.is_authenticated else None
    now = timezone.now()
    updated = HeldMessage.objects.filter(pk=held.pk, status=HeldStatus.PENDING).update(
        status=status, decided_by=decided_by, decided_at=now, decision_reason=reason
    )
    if not updated:
        held.refresh_from_db()
        raise AlreadyDecided(held)
    held.status, held.decided_by, held.decided_at, held.decision_reason = status, decided_by, now, reason
    record(held.mailing_list, status, via=via, user=user, actor_email=actor_email, held=held, reason=reason)
    processed_at = None if inbound_status == InboundStatus.PROCESSING else now
    InboundMessage.objects.filter(pk=held.inbound_id).update(status=inbound_status, processed_at=processed_at, error="")
    emit("held_message_decided", held=held)
    return InboundMessage.objects.select_related("mailing_list__domain").get(pk=held.inbound_id)


@dataclass(frozen=True)
class PendingCounts:
    held: int
    requests: int

    @property
    def total(self) -> int:
        return self.held + self.requests


def pending_counts(mlist: MailingList) -> PendingCounts:
    """What waits for the moderators of `mlist`: held posts and subscription requests."""
    return PendingCounts(
        held=HeldMessage.objects.filter(mailing_list=mlist, status=HeldStatus.PENDING).count(),
        requests=SubscriptionRequest.objects.filter(mailing_list=mlist, status=RequestStatus.PENDING).count(),
    )
