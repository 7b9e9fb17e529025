"""The hold queue: posts a rule held, and the moderators' decisions on them.

Each decision is taken once: the first of two moderators wins, the second
gets AlreadyDecided. Web views, the API and (later) email commands all
call these functions.
"""

import logging
from email.message import EmailMessage
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lists.models import MailingList
from mailman_site.events import emit
from messages.models import HeldMessage, HeldStatus, InboundMessage, InboundStatus, Post
from messages.outgoing import SendError, send_held_notice, send_rejection
from messages.pipeline import PostState
from messages.pipeline.mime import decode_header_value, first_text_plain, header_text, parse_message, part_text
from messages.rules.approved import pop_password

logger = logging.getLogger(__name__)

Moderator = AbstractBaseUser | AnonymousUser | None

# A preview shows this much of the text; the rest is only counted.
PREVIEW_CHARACTERS = 100_000


class ModerationError(Exception):
    """Base of this module's errors; str() is a message for people."""


class AlreadyDecided(ModerationError):
    def __init__(self, held: HeldMessage):
        super().__init__(_("This message has already been %(status)s.") % {"status": held.get_status_display()})


class NoticeNotSent(ModerationError):
    """The rejection notice could not be sent, so nothing was decided."""


class ReleaseFailed(ModerationError):
    """The approved post could not be processed, so it is still held."""


def hold(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, state: PostState) -> HeldMessage:
    """Put the post in the hold queue with the reasons the rules gave.

    Run it inside the caller's transaction; the administrators are told
    (when the list says so) after it commits.
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
        notice = partial(send_held_notice, mlist, held.sender, held.subject, held.reasons)
        transaction.on_commit(notice, robust=True)
    return held


def approve(held: HeldMessage, user: Moderator) -> Post | None:
    """Release the post: it goes through the chain as approved, then the
    handlers and delivery, exactly as a post accepted on arrival.

    Returns the stored Post (None only if a rule before `approved` in the
    list's chain decided otherwise). All or nothing: on ReleaseFailed the
    message is still held.
    """
    # Imported here because dispatch imports this module.
    from messages.dispatch import process_post

    try:
        with transaction.atomic():
            inbound = decide(held, HeldStatus.APPROVED, user, InboundStatus.PROCESSING)
            state = process_post(inbound, approved=True)
    except ModerationError:
        raise
    except Exception as exc:
        logger.exception("Approving held message %s failed", held.pk)
        raise ReleaseFailed(_("The post could not be released: %(error)s") % {"error": exc}) from exc
    return state.post


def reject(held: HeldMessage, user: Moderator, reason: str = "") -> None:
    """Refuse the post and tell its sender why; on NoticeNotSent nothing changed."""
    reason = reason.strip()
    with transaction.atomic():
        inbound = decide(held, HeldStatus.REJECTED, user, InboundStatus.REJECTED, reason)
        msg = parse_message(inbound.raw)
        try:
            send_rejection(held.mailing_list, msg, held.sender, [reason or _("No reason given")])
        except SendError as exc:
            raise NoticeNotSent(_("The rejection notice could not be sent: %(error)s") % {"error": exc}) from exc


def discard(held: HeldMessage, user: Moderator) -> None:
    """Drop the post without telling anyone."""
    with transaction.atomic():
        decide(held, HeldStatus.DISCARDED, user, InboundStatus.DISCARDED)


def decide(held: HeldMessage, status: str, user: Moderator, inbound_status: str, reason: str = "") -> InboundMessage:
    """Record the decision if the message is still pending (AlreadyDecided if
    not) and move its inbound message on; returns the inbound message."""
    decided_by = user if user is not None and user.is_authenticated else None
    now = timezone.now()
    updated = HeldMessage.objects.filter(pk=held.pk, status=HeldStatus.PENDING).update(
        status=status, decided_by=decided_by, decided_at=now, decision_reason=reason
    )
    if not updated:
        held.refresh_from_db()
        raise AlreadyDecided(held)
    held.status, held.decided_by, held.decided_at, held.decision_reason = status, decided_by, now, reason
    processed_at = None if inbound_status == InboundStatus.PROCESSING else now
    InboundMessage.objects.filter(pk=held.inbound_id).update(status=inbound_status, processed_at=processed_at, error="")
    emit("held_message_decided", held=held)
    return InboundMessage.objects.select_related("mailing_list__domain").get(pk=held.inbound_id)


def preview(held: HeldMessage) -> dict:
    """What a moderator needs to decide, as plain data: the headers decoded,
    the first plain text part, and the type, name and size of every part."""
    raw = bytes(held.inbound.raw)
    msg = parse_message(raw)
    # The sender's (wrong) moderator password is nobody else's business.
    pop_password(msg)
    part = first_text_plain(msg)
    text = (part_text(part) if part is not None else None) or ""
    return {
        "size": len(raw),
        "headers": [[name, decode_header_value(str(value))] for name, value in msg.raw_items()],
        "text": text[:PREVIEW_CHARACTERS],
        "text_truncated": len(text) > PREVIEW_CHARACTERS,
        "parts": [
            {
                "content_type": leaf.get_content_type(),
                "filename": decode_header_value(leaf.get_filename() or ""),
                "size": len(leaf.get_payload(decode=True) or b""),
            }
            for leaf in msg.walk()
            if not leaf.is_multipart()
        ],
    }
