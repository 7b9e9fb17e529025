"""The moderation log: one ModerationRecord per thing a moderator (or the
site, for expiry) did on a held post or a subscription request.

Written in the same transaction as the decision it records, by
messages.moderation for held posts and members.workflows for requests, so
a decision rolled back leaves no record and no decision goes unrecorded.
"""

from enum import StrEnum

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from lists.models import MailingList
from messages.models import HeldMessage, ModerationKind, ModerationRecord

Actor = AbstractBaseUser | AnonymousUser | None

# The longest reason kept with a record; the held post keeps the whole one.
REASON_LENGTH = 10_000


class Via(StrEnum):
    """Where a decision was taken."""

    WEB = "web"
    EMAIL = "email"
    API = "api"
    ADMIN = "admin"
    # The site itself: held posts expiring.
    SITE = "site"


VIAS = frozenset(via.value for via in Via)


class Action(models.TextChoices):
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    DISCARDED = "discarded", _("discarded")
    DEFERRED = "deferred", _("deferred")
    EXPIRED = "expired", _("expired (discarded)")
    # The sender's moderation action set to accept, or the sender banned.
    SENDER_ACCEPTED = "sender_accepted", _("always accept the sender")
    SENDER_BANNED = "sender_banned", _("banned the sender")


def record(
    mlist: MailingList,
    action: str,
    *,
    via: str,
    user: Actor = None,
    actor_email: str = "",
    kind: str = ModerationKind.POST,
    held: HeldMessage | None = None,
    sender: str = "",
    subject: str = "",
    reason: str = "",
) -> ModerationRecord:
    """Log `action` on `mlist`; a held post gives its own sender and subject."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(Via)}, not {via!r}")
    actor = user if user is not None and user.is_authenticated else None
    return ModerationRecord.objects.create(
        mailing_list=mlist,
        kind=kind,
        held_message=held,
        sender=(held.sender if held is not None and not sender else sender)[:998],
        subject=held.subject if held is not None and not subject else subject,
        action=action,
        reason=reason[:REASON_LENGTH],
        actor=actor,
        actor_email=(actor_email or (getattr(actor, "email", "") if actor else ""))[:254],
        via=via,
    )


def log_of(mlist: MailingList) -> QuerySet[ModerationRecord]:
    """The records of `mlist`, newest first."""
    return ModerationRecord.objects.filter(mailing_list=mlist).select_related("actor").order_by("-at", "-id")


def action_label(action: str) -> str:
    """What a record's action says to people."""
    return str(Action(action).label) if action in Action.values else action
