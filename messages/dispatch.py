"""Processing one stored inbound message: claim it, then act on it by its
destination. Posts go through the rule chain and, when accepted, the
handlers; -owner mail goes to the list's administrators.

Whatever goes wrong, the message stays in the database with its error for
an admin to see: back in the queue when sending mail failed for a passing
reason (the sweeper retries it), else parked until someone retries it.
"""

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from lists.models import Domain, MailingList
from messages import moderation, nudges, prepared
from messages.inbound import GROUP_SIZE, outcome_params, outcome_sql
from messages.list_configuration import configuration_for, current_stamp
from messages.models import ConfigurationStamp, Destination, InboundMessage, InboundStatus
from messages.outgoing import (
    SendError,
    forward_to_administrators,
    list_administrators,
    make_notice,
    send_message,
    send_rejection,
)
from messages.pipeline import Decision, PostState, run_chain, run_handlers, storing
from messages.pipeline.mime import clean_text, find_senders, parse_message
from messages.pipeline.runner import PostEnded
from messages.pipeline.state import Disposal
from messages.rows import Columns
from messages.rules.member_moderation import moderation_actions

logger = logging.getLogger(__name__)

# A parked message is claimed again when its actor is sent again (a retry).
CLAIMABLE = (InboundStatus.QUEUED, InboundStatus.PARKED)
# Longer than the process_inbound actor's time limit, so a live worker's
# claim never runs out under it.
CLAIM_LEASE = timedelta(minutes=10)
# A message whose mail could not be sent for a passing reason (the SMTP
# server down) goes back to the queue, where the sweeper finds it again,
# this many times in all before it is parked.
TEMPORARY_FAILURE_ATTEMPTS = 10
# Posts of a group parsed, and their senders' moderation looked up, at once.
READ_AHEAD = 16
# Frames of the traceback kept with a parked message.
ERROR_FRAMES = 6
# A group takes no further post after this long and puts the rest back in
# the queue, well within the actor's time limit (a post may wait on SMTP
# for a notice, with a timeout of its own).
GROUP_SECONDS = 60


class ListGone(Exception):
    def __init__(self, inbound: InboundMessage):
        super().__init__(f"The list {inbound.rcpt_to} no longer exists")


def process_inbound_message(inbound_id: int, list_id: int | None = None) -> None:
    """Process the inbound message `inbound_id` once and, when it is a post,
    up to GROUP_SIZE - 1 other posts to its list waiting in the queue.

    Claims it (queued or parked -> processing) with one conditional UPDATE,
    so of two workers only one goes on; a message already processed, or
    being processed, is left alone (one statement). Safe to call twice.
    The other posts are claimed together in one more statement, oldest
    first, and processed one after the other, each in its own transaction
    (post numbers follow that order, without gaps); their own actor calls
    then find nothing to claim. Their broker messages go out together after
    the group (messages.nudges). Errors are kept with the message they
    belong to, never raised, and the group goes on (see the module's
    docstring).

    With `list_id`, the receiver's nudge for the posts to that list that
    came at about the same time (messages.inbound.QueueingThread): up to
    GROUP_SIZE of the list's queued posts are claimed, oldest first, in one
    statement, `inbound_id` among them unless it was taken already, so that
    each nudge takes its share of them.
    """
    if list_id is not None:
        group = claim_queued_posts(list_id, GROUP_SIZE)
    elif (inbound := claim(inbound_id)) is None:
        group = []
    elif inbound.destination == Destination.POST and inbound.mailing_list is not None:
        group = [inbound, *claim_queued_posts(inbound.mailing_list_id, GROUP_SIZE - 1, inbound.mailing_list)]
    else:
        group = [inbound]
    if not group:
        logger.info("Inbound message %s is not waiting to be processed; skipped", inbound_id)
        return
    started = time.monotonic()
    with nudges.grouped():
        for number, claimed in enumerate(group):
            if number and time.monotonic() - started > GROUP_SECONDS:
                release(group[number:])
                break
            if len(group) > 1 and number % READ_AHEAD == 0:
                read_ahead(group[number : number + READ_AHEAD])
            process_claimed(claimed)
            # Its parsed message is done with: a group holds READ_AHEAD of them at most.
            claimed.read_post = None


@dataclass(frozen=True)
class ReadPost:
    """A post of a group, read before the group is processed."""

    msg: EmailMessage
    senders: list[str]
    # The moderation action of each sender who is a member (see moderation_actions).
    member_actions: dict[str, str]


def read_ahead(group: list[InboundMessage]) -> None:
    """Parse the group's posts and read their senders' member moderation
    actions in one query for all, rather than one a post; each post keeps
    its part (`read_post`). Never raises: a post that cannot be read so is
    read again where it is processed, and fails there alone, with its
    error kept (process_claimed)."""
    read: dict[int, tuple[EmailMessage, list[str]]] = {}
    for inbound in group:
        try:
            msg = parse_message(inbound.raw)
            read[inbound.pk] = (msg, find_senders(msg, inbound.mail_from))
        except Exception:
            logger.debug("Inbound message %s is read when it is processed", inbound.pk, exc_info=True)
    senders = sorted({sender for _, post_senders in read.values() for sender in post_senders})
    try:
        actions = moderation_actions(group[0].mailing_list_id, senders)
    except Exception:
        logger.warning("Could not read the moderation actions of a group's senders; each post reads its own")
        return
    for inbound in group:
        if inbound.pk in read:
            msg, post_senders = read[inbound.pk]
            mine = {sender: actions[sender] for sender in post_senders if sender in actions}
            inbound.read_post = ReadPost(msg, post_senders, mine)


def release(claimed: list[InboundMessage]) -> None:
    """Put the `claimed` messages, not processed, back in the queue as they
    were, and send their actor again (the sweeper does if the broker is down)."""
    from messages.tasks import process_inbound

    ids = [inbound.pk for inbound in claimed]
    InboundMessage.objects.filter(pk__in=ids, status=InboundStatus.PROCESSING).update(
        status=InboundStatus.QUEUED, attempts=F("attempts") - 1, claimed_until=None
    )
    for inbound_id in ids:
        try:
            process_inbound.send(inbound_id)
        except Exception:
            logger.exception("could not send inbound message %d to the broker; the sweeper sends it again", inbound_id)
            return


def process_claimed(inbound: InboundMessage) -> None:
    """Act on the claimed `inbound` by its destination; errors are kept with it."""
    try:
        DESTINATIONS.get(inbound.destination, leave_unhandled)(inbound)
    except SendError as exc:
        if exc.temporary and inbound.attempts < TEMPORARY_FAILURE_ATTEMPTS:
            requeue(inbound, exc)
        else:
            park(inbound, exc)
    except Exception as exc:
        park(inbound, exc)


def claimable(now: datetime) -> Q:
    """Rows waiting to be processed, or whose worker's claim ran out."""
    return Q(status__in=CLAIMABLE) | Q(status=InboundStatus.PROCESSING, claimed_until__lt=now)


def claim(inbound_id: int) -> InboundMessage | None:
    """The inbound message `inbound_id`, claimed, with its list and domain
    and the configuration stamp read with the claim (`configuration_stamp`,
    see messages.list_configuration); None when it is not waiting (see
    `claimable`)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        return claim_returning(inbound_id, now)
    claimed = InboundMessage.objects.filter(claimable(now), pk=inbound_id).update(
        status=InboundStatus.PROCESSING, attempts=F("attempts") + 1, claimed_until=now + CLAIM_LEASE
    )
    if not claimed:
        return None
    rows = InboundMessage.objects.select_related("mailing_list__domain")
    return rows.annotate(configuration_stamp=current_stamp()).get(pk=inbound_id)


INBOUND = Columns(InboundMessage, "claimed")
LIST = Columns(MailingList, "ml")
DOMAIN = Columns(Domain, "dom")


@cache
def claim_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(InboundMessage._meta.db_table)
    return (
        f"WITH claimed AS (UPDATE {table} SET status = %(processing)s, attempts = attempts + 1,"  # noqa: S608
        " claimed_until = %(until)s WHERE id = %(id)s AND (status IN (%(queued)s, %(parked)s)"
        f" OR (status = %(processing)s AND claimed_until < %(now)s)) RETURNING {INBOUND.names})"
        f" SELECT {INBOUND.sql}, {LIST.sql}, {DOMAIN.sql},"
        f" (SELECT stamp FROM {quote(ConfigurationStamp._meta.db_table)} LIMIT 1) FROM claimed"
        f" LEFT JOIN {quote(MailingList._meta.db_table)} ml ON ml.id = claimed.mailing_list_id"
        f" LEFT JOIN {quote(Domain._meta.db_table)} dom ON dom.id = ml.domain_id"
    )


def claim_returning(inbound_id: int, now: datetime) -> InboundMessage | None:
    """`claim` in one statement: the conditional UPDATE returns the row it
    claimed, joined to its list and domain (the SQL is built once)."""
    params = {
        "id": inbound_id,
        "now": now,
        "until": now + CLAIM_LEASE,
        "processing": InboundStatus.PROCESSING.value,
        "queued": InboundStatus.QUEUED.value,
        "parked": InboundStatus.PARKED.value,
    }
    with prepared.cursor() as cursor:
        cursor.execute(claim_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    inbound = INBOUND.load(row)
    mlist = LIST.load(row, len(INBOUND))
    if mlist is not None:
        mlist.domain = DOMAIN.load(row, len(INBOUND) + len(LIST))
    inbound.mailing_list = mlist
    inbound.configuration_stamp = row[-1]
    return inbound


@cache
def claim_queued_sql(with_list: bool) -> str:
    """claim_queued_posts' statement; `with_list` (on PostgreSQL) also reads
    the list and its domain, in each row after the inbound message's columns."""
    quote = connection.ops.quote_name
    table = quote(InboundMessage._meta.db_table)
    # Fresh posts only: one queued again after a passing failure has
    # nudged_at set and waits for the sweeper's grace period.
    waiting = (
        f"SELECT id FROM {table} WHERE status = %(queued)s AND mailing_list_id = %(list)s"  # noqa: S608
        " AND destination = %(post)s AND nudged_at IS NULL ORDER BY received_at, id LIMIT %(limit)s"
    )
    claim = (
        f"UPDATE {table} SET status = %(processing)s, attempts = attempts + 1, claimed_until = %(until)s"  # noqa: S608
        " WHERE id {waiting} AND status = %(queued)s RETURNING {returning}"
    )
    if connection.vendor == "postgresql":
        # SKIP LOCKED: two workers claiming groups of one list never wait for
        # each other. ANY(ARRAY(...)) runs the SELECT once: as IN (...) it may be
        # run again while the UPDATE goes on, and find the next rows waiting.
        claim = claim.format(waiting=f"= ANY(ARRAY({waiting} FOR UPDATE SKIP LOCKED))", returning=INBOUND.names)
        stamp = f"(SELECT stamp FROM {quote(ConfigurationStamp._meta.db_table)} LIMIT 1)"  # noqa: S608
        if not with_list:
            return f"WITH claimed AS ({claim}) SELECT {INBOUND.sql}, {stamp} FROM claimed"  # noqa: S608
        return (
            f"WITH claimed AS ({claim}) SELECT {INBOUND.sql}, {LIST.sql}, {DOMAIN.sql}, {stamp} FROM claimed"  # noqa: S608
            f" LEFT JOIN {quote(MailingList._meta.db_table)} ml ON ml.id = claimed.mailing_list_id"
            f" LEFT JOIN {quote(Domain._meta.db_table)} dom ON dom.id = ml.domain_id"
        )
    # SQLite takes one writer at a time: the UPDATE is atomic as it stands.
    return claim.format(waiting=f"IN ({waiting})", returning=INBOUND.names)


def claim_queued_posts(list_id: int, limit: int, mlist: MailingList | None = None) -> list[InboundMessage]:
    """Up to `limit` posts to the list `list_id` (its row `mlist` when the
    caller has it), queued since the receiver stored them, claimed in one
    statement (as `claim` does, with the configuration stamp read then),
    oldest first."""
    if limit <= 0:
        return []
    now = timezone.now()
    params = {
        "list": list_id,
        "post": Destination.POST.value,
        "limit": limit,
        "until": now + CLAIM_LEASE,
        "processing": InboundStatus.PROCESSING.value,
        "queued": InboundStatus.QUEUED.value,
    }
    postgresql = connection.vendor == "postgresql"
    with_list = postgresql and mlist is None
    with prepared.cursor() as cursor:
        cursor.execute(claim_queued_sql(with_list), params)
        rows = cursor.fetchall()
    if not rows:
        return []
    if postgresql:
        stamp = rows[0][-1]
    else:
        stamp = ConfigurationStamp.objects.values_list("stamp", flat=True).first()
    if with_list:
        mlist = LIST.load(rows[0], len(INBOUND))
        if mlist is not None:
            mlist.domain = DOMAIN.load(rows[0], len(INBOUND) + len(LIST))
    elif mlist is None:
        mlist = MailingList.objects.select_related("domain").filter(pk=list_id).first()
    # None: the list was deleted since the claim, and its posts are parked (see mailing_list_of).
    claimed = sorted((INBOUND.load(row) for row in rows), key=lambda inbound: (inbound.received_at, inbound.pk))
    for inbound in claimed:
        # One list, one row: the group shares it, as it shares the list's row lock in turn.
        inbound.mailing_list = mlist
        inbound.configuration_stamp = stamp
    return claimed


def finish(inbound: InboundMessage, status: str, note: str = "") -> None:
    """Record the outcome of processing the claimed `inbound`, with a `note`
    for admins on why (shown where errors are)."""
    # Every post takes this step: plain SQL, not an UPDATE the ORM compiles each time.
    with prepared.cursor() as cursor:
        cursor.execute(outcome_sql(), outcome_params(inbound.pk, status, note))
    inbound.status = status


def park(inbound: InboundMessage, exc: BaseException) -> None:
    logger.error("Parking inbound message %s", inbound.pk, exc_info=exc)
    InboundMessage.objects.filter(pk=inbound.pk).update(
        status=InboundStatus.PARKED, error=describe_error(exc), processed_at=timezone.now()
    )
    inbound.status = InboundStatus.PARKED


def requeue(inbound: InboundMessage, exc: SendError) -> None:
    logger.warning("Inbound message %s queued again after attempt %s: %s", inbound.pk, inbound.attempts, exc)
    # nudged_at now: the sweeper waits its grace period before the next try.
    InboundMessage.objects.filter(pk=inbound.pk).update(
        status=InboundStatus.QUEUED, error=describe_error(exc), nudged_at=timezone.now()
    )
    inbound.status = InboundStatus.QUEUED


def retry(inbound: InboundMessage) -> None:
    """Queue a parked (or stuck queued) message to be processed again, after commit."""
    from messages.tasks import process_inbound

    InboundMessage.objects.filter(pk=inbound.pk, status=InboundStatus.PARKED).update(status=InboundStatus.QUEUED)
    transaction.on_commit(lambda: process_inbound.send(inbound.pk), robust=True)


def describe_error(exc: BaseException) -> str:
    """The error and the last frames that led to it, for an admin to read."""
    lines = [f"{type(exc).__name__}: {exc}".strip()]
    for frame in traceback.extract_tb(exc.__traceback__)[-ERROR_FRAMES:]:
        filename = frame.filename.removeprefix(f"{settings.BASE_DIR}/")
        lines.append(f"  {filename}:{frame.lineno} in {frame.name}")
    # Whatever the exception quotes from the message must fit a text column.
    return clean_text("\n".join(lines))


def mailing_list_of(inbound: InboundMessage) -> MailingList:
    if inbound.mailing_list is None:
        raise ListGone(inbound)
    return inbound.mailing_list


def process_post(inbound: InboundMessage, *, approved: bool = False) -> PostState:
    """Run the claimed post `inbound` through its list's chain and act on the decision.

    `approved` means a moderator released it. Returns the pipeline state:
    its decision, and for an accepted post the stored Post.
    """
    mlist = mailing_list_of(inbound)
    # Read with its group (read_ahead), or now.
    read = getattr(inbound, "read_post", None)
    msg = read.msg if read else parse_message(inbound.raw)
    state = PostState(
        inbound_id=inbound.pk,
        envelope_sender=inbound.mail_from,
        senders=read.senders if read else find_senders(msg, inbound.mail_from),
        member_actions=read.member_actions if read else None,
        size=inbound.size,
        approved=approved,
        # An inbound message loaded otherwise than by claim() has no stamp: its
        # list's configuration is then read afresh.
        configuration=configuration_for(mlist, getattr(inbound, "configuration_stamp", None)),
    )
    decision = run_chain(mlist, msg, state)
    DECISIONS[decision](inbound, mlist, msg, state)
    return state


def accept(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, state: PostState) -> None:
    try:
        with transaction.atomic():
            # Marked accepted by the statement that stores the post, on
            # PostgreSQL (messages.pipeline.storing); else here.
            state.inbound_to_finish = inbound.pk
            run_handlers(mlist, msg, state)
            if not storing.stores_alone(state):
                storing.store_staged(state)
                if state.inbound_to_finish is not None:
                    finish(inbound, InboundStatus.ACCEPTED)
        # Else, the handlers having written nothing: one statement, a transaction of its own.
        storing.store_staged(state)
        inbound.status = InboundStatus.ACCEPTED
    except PostEnded as ended:
        # Rolled back, the row is processing again and no post was stored.
        end_post(inbound, mlist, state, ended)


def end_post(inbound: InboundMessage, mlist: MailingList, state: PostState, ended: PostEnded) -> None:
    """Take the disposal of a post that a handler ended (the MIME filter,
    say): any notice carries the post as it was received."""
    state.disposal = ended.disposal
    state.post = state.sequence = None
    state.reasons.append(ended.reason)
    original = parse_message(inbound.raw)
    note = clean_text(f"{ended.handler or 'a handler'}: {ended.reason}")
    if ended.disposal is Disposal.REJECT:
        # The notice first: should it fail, the post waits for another try.
        send_rejection(mlist, original, state.moderation_sender or state.sender, [ended.reason])
        finish(inbound, InboundStatus.REJECTED, note)
    elif ended.disposal is Disposal.FORWARD:
        forward_filtered(mlist, original, ended.reason)
        finish(inbound, InboundStatus.FORWARDED, note)
    elif ended.disposal is Disposal.PRESERVE:
        finish(inbound, InboundStatus.PRESERVED, note)
    else:
        finish(inbound, InboundStatus.DISCARDED, note)


def forward_filtered(mlist: MailingList, original: EmailMessage, reason: str) -> None:
    """Send the list's owners and moderators a post that was filtered out,
    attached to a notice saying why (Mailman's filter_action forward)."""
    recipients = list_administrators(mlist)
    if not recipients:
        raise SendError(
            _("The list %(list)s has no owners or moderators to forward to.") % {"list": mlist}, temporary=False
        )
    text = _(
        "The attached message matched the %(list)s mailing list's content filtering rules\n"
        "and was not sent to the list's members:\n\n    %(reason)s\n\n"
        "You are receiving the only remaining copy of it.\n"
    ) % {"list": mlist.fqdn_listname, "reason": reason}
    notice = make_notice(mlist, mlist.subaddress("owner"), _("Content filter message notification"), text)
    notice.add_attachment(original)
    send_message(notice, mail_from=mlist.subaddress("bounces"), recipients=recipients)


def hold(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, state: PostState) -> None:
    with transaction.atomic():
        moderation.hold(inbound, mlist, msg, state)
        finish(inbound, InboundStatus.HELD)


def reject(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, state: PostState) -> None:
    # The notice goes first: should it fail, the post waits for another try, not rejected unannounced.
    send_rejection(mlist, msg, state.moderation_sender or state.sender, state.reasons)
    finish(inbound, InboundStatus.REJECTED)


def discard(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, state: PostState) -> None:
    finish(inbound, InboundStatus.DISCARDED)


def forward_to_owners(inbound: InboundMessage) -> None:
    """Mail for -owner goes, as it came, to the owners and moderators (Mailman's owner chain)."""
    recipients = forward_to_administrators(mailing_list_of(inbound), bytes(inbound.raw))
    logger.info("Forwarded inbound message %s to %s", inbound.pk, ", ".join(recipients))
    finish(inbound, InboundStatus.FORWARDED)


def leave_unhandled(inbound: InboundMessage) -> None:
    """Kept, visible and not lost, until the part of the project that handles it exists."""
    finish(inbound, InboundStatus.NOT_HANDLED)


def process_post_message(inbound: InboundMessage) -> None:
    process_post(inbound)


DECISIONS: dict[Decision, Callable[[InboundMessage, MailingList, EmailMessage, PostState], None]] = {
    Decision.ACCEPT: accept,
    Decision.HOLD: hold,
    Decision.REJECT: reject,
    Decision.DISCARD: discard,
}

# What each destination does with a claimed message; the others are left
# unhandled (and visible) until their part of the project registers here.
DESTINATIONS: dict[str, Callable[[InboundMessage], None]] = {
    Destination.POST: process_post_message,
    Destination.OWNER: forward_to_owners,
}
