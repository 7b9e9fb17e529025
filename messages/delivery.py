"""Outgoing delivery: a post's recipients cut into batches, each batch
claimed by one worker, sent over SMTP and its results recorded.

The batch rows are the truth. A broker message only says "look at batch
N"; a lost one is re-sent by the sweeper (messages/sweeper.py), and a batch
whose worker died is taken over when its claim runs out. A batch is claimed
before sending and its results are recorded in one UPDATE that only the
claim holder can make, so a batch is sent again only when a worker died
between sending and recording.

Counting: a batch keeps its original `recipient_count`; `sent_count` and
`failed_count` (permanent failures) grow with each attempt and
`recipients` holds who the latest attempt addressed. So for every batch,
pending = recipient_count - sent_count - failed_count.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Field, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from lists.models import Domain, MailingList, Personalization
from members.models import Address, DeliveryMode, DeliveryStatus, Membership, Role
from messages import nudges, prepared, smtp_client
from messages.dkim_signing import signer_for
from messages.handlers.dmarc import delivered_copy
from messages.models import BatchStatus, DeliveryBatch, Post
from messages.personalize import Personalizer
from messages.rows import Columns, insert_fields, insert_params
from messages.smtp_client import Envelope, Reply, SMTPConnectError, TransactionResult, wire_data

logger = logging.getLogger(__name__)

# How often a worker may reconnect within one batch when the server drops it.
RECONNECTS_PER_BATCH = 2


@dataclass(frozen=True)
class DeliveryProgress:
    total: int
    sent: int
    failed: int
    pending: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DeliveryFailure:
    """A recipient the server refused for good (or who was given up on)."""

    email: str
    code: int
    reply: str


class ClaimLost(Exception):
    """Another worker took over the batch (our claim ran out while sending)."""


# Enqueue


def recipient_snapshot(mlist: MailingList, sender: str = "") -> list[str]:
    """The addresses a post goes to now: enabled members on regular delivery,
    grouped by domain so the MTA can batch per destination. One query.

    The member whose address is `sender` (the post's, lower-case) is left
    out when they asked not to receive their own posts (Mailman's
    receive_own_postings)."""
    params = [mlist.pk, Role.MEMBER.value, DeliveryStatus.ENABLED.value, DeliveryMode.REGULAR.value]
    if sender:
        params += [False, sender]
    # Every post asks this: SQL written once rather than compiled by the ORM each time.
    with connection.cursor() as cursor:
        cursor.execute(snapshot_sql(bool(sender)), params)
        emails = [email for (email,) in cursor.fetchall()]
    emails.sort(key=lambda email: email.rpartition("@")[2])
    return emails


@cache
def snapshot_sql(leaving_out_sender: bool) -> str:
    """recipient_snapshot's query. Parameters: the list's id, the member
    role, enabled, regular; with `leaving_out_sender`, False and the sender."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT address.{quote('email')} FROM {quote(Membership._meta.db_table)} membership"  # noqa: S608
        f" JOIN {quote(Address._meta.db_table)} address ON address.id = membership.address_id"
        " WHERE membership.mailing_list_id = %s AND membership.role = %s"
        " AND membership.delivery_status = %s AND membership.delivery_mode = %s"
    )
    if leaving_out_sender:
        sql += " AND NOT (membership.receive_own_postings = %s AND address.email = %s)"
    return sql


def enqueue_post(post: Post) -> int:
    """Snapshot the recipients of `post`, store them as delivery batches and,
    once the caller's transaction commits, send one deliver_batch message per
    batch. Returns the number of recipients. Call it inside the transaction
    that accepts the post."""
    if connection.vendor == "postgresql":
        batch_ids = store_snapshot_batches(post)
        nudges.deliver_after_commit(batch_ids)
        return post.recipient_count
    emails = recipient_snapshot(post.mailing_list, post.sender)
    size = settings.DELIVERY_BATCH_SIZE
    now = timezone.now()
    batches = [
        DeliveryBatch(post=post, recipients="\n".join(chunk), recipient_count=len(chunk), next_attempt_at=now)
        for chunk in (emails[start : start + size] for start in range(0, len(emails), size))
    ]
    post.recipient_count = len(emails)
    # No savepoint: inside the caller's transaction a failure here fails the
    # whole acceptance anyway, and a savepoint costs two round trips.
    with transaction.atomic(savepoint=False):
        DeliveryBatch.objects.bulk_create(batches)
        post.save(update_fields=["recipient_count"])
    nudges.deliver_after_commit([batch.pk for batch in batches])
    return len(emails)


def store_snapshot_batches(post: Post) -> list[int]:
    """`enqueue_post`'s snapshot and batches in one statement on
    PostgreSQL: the recipients that recipient_snapshot() reads, grouped by
    domain and cut into batches of DELIVERY_BATCH_SIZE by the server, stored
    with the post's recipient count (also set on `post`). Returns the
    batches' ids, in order."""
    params = [*snapshot_params(post), post.pk, *batch_params(post)]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(snapshot_batches_sql(), params)
        rows = cursor.fetchall()
    post.recipient_count = sum(count for _, count in rows)
    return sorted(pk for pk, _ in rows)


def snapshot_params(post: Post) -> list:
    """recipients_sql()'s parameters, for the recipients of `post`."""
    return [
        post.mailing_list_id,
        Role.MEMBER.value,
        DeliveryStatus.ENABLED.value,
        DeliveryMode.REGULAR.value,
        False,
        post.sender,
    ]


def batch_params(post: Post) -> list:
    """batches_sql()'s parameters: the batch size, then the values of the
    batch columns it does not compute, for new batches of `post`."""
    params, timed = new_batch_values()
    params = [settings.DELIVERY_BATCH_SIZE, *params]
    now = timezone.now()
    for index, field in timed:
        params[1 + index] = field.get_db_prep_save(now, connection)
    return params


@cache
def new_batch_values() -> tuple[list, list[tuple[int, Field]]]:
    """The values snapshot_batch_fields() take in every new batch, prepared
    for the database once (every post asks for them), and (index, field)
    of those that are the time it is made: next_attempt_at, and any auto_now."""
    fields = snapshot_batch_fields()
    template = DeliveryBatch(recipients="", recipient_count=0, next_attempt_at=timezone.now())
    timed = [
        (index, field)
        for index, field in enumerate(fields)
        if field.name == "next_attempt_at" or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ]
    return insert_params(template, fields), timed


@cache
def snapshot_batch_fields() -> list:
    """The DeliveryBatch columns batches_sql() takes as parameters (all but those it computes)."""
    computed = {"post", "recipients", "recipient_count"}
    return [field for field in insert_fields(DeliveryBatch) if field.name not in computed]


@cache
def recipients_sql() -> str:
    """The recipients of a post, numbered from 0 by domain (after the last
    "@") then address, as recipient_snapshot() sorts them: a CTE's body
    with the columns email and n. Parameters: snapshot_params()."""
    return (
        "SELECT email, row_number() OVER (ORDER BY substring(email from '[^@]*$'), email) - 1 AS n"  # noqa: S608
        f" FROM ({snapshot_sql(True)}) snapshot"
    )


@cache
def batches_sql(post: str) -> str:
    """CTEs that cut the CTE `recipients` (recipients_sql()) into batches
    of the post the CTE named `post` returns (its id): `batched`, and
    `batches`, which inserts them, in order, returning id and
    recipient_count; none when `post` returns no row. Parameters:
    batch_params()."""
    quote = connection.ops.quote_name
    fields = insert_fields(DeliveryBatch)
    given = {field.name for field in snapshot_batch_fields()}
    computed = {"post": f"{post}.id", "recipients": "batched.recipients", "recipient_count": "batched.size"}
    values = ", ".join("%s" if field.name in given else computed[field.name] for field in fields)
    return (
        "batched AS (SELECT n / %s AS number, string_agg(email, E'\\n' ORDER BY n) AS recipients,"  # noqa: S608
        " count(*) AS size FROM recipients GROUP BY 1),"
        f" batches AS (INSERT INTO {quote(DeliveryBatch._meta.db_table)}"
        f" ({', '.join(quote(field.column) for field in fields)})"
        f" SELECT {values} FROM batched, {post} ORDER BY batched.number RETURNING id, recipient_count)"
    )


@cache
def snapshot_batches_sql() -> str:
    """store_snapshot_batches' statement. Parameters: snapshot_params(),
    the post's id, then batch_params()."""
    quote = connection.ops.quote_name
    return (
        f"WITH recipients AS ({recipients_sql()}),"  # noqa: S608
        f" counted AS (UPDATE {quote(Post._meta.db_table)} SET recipient_count = (SELECT count(*) FROM recipients)"
        " WHERE id = %s RETURNING id),"
        f" {batches_sql('counted')}"
        " SELECT id, recipient_count FROM batches"
    )


def nudge(batch_ids: list[int]) -> int:
    """Send a deliver_batch message for each batch; returns how many went.

    A broker failure is logged, not raised: the batches are in the database
    and the sweeper sends their messages again.
    """
    from messages.tasks import deliver_batch

    for sent, batch_id in enumerate(batch_ids):
        try:
            deliver_batch.send(batch_id)
        except Exception:
            logger.exception(
                "could not send %d delivery message(s) to the broker; the sweeper will send them again",
                len(batch_ids) - sent,
            )
            return sent
    return len(batch_ids)


# Claim


def due_batches(now: datetime) -> Q:
    """Batches a worker may take: due ones, and claimed ones whose claim ran out."""
    return Q(status__in=[BatchStatus.PENDING, BatchStatus.RETRY], next_attempt_at__lte=now) | Q(
        status=BatchStatus.CLAIMED, claimed_until__lt=now
    )


def claim_batch(batch_id: int) -> DeliveryBatch | None:
    """Claim batch `batch_id` for DELIVERY_CLAIM_SECONDS, or None when it is
    not due, done, or claimed by someone else. Atomic: of two claimers, one
    wins. The returned batch's `claimed_until` is the claim's token; its
    post, list and domain come with it."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    if connection.vendor == "postgresql":
        return claim_batch_returning(batch_id, now, until)
    due = DeliveryBatch.objects.filter(due_batches(now), pk=batch_id)
    claim = dict(status=BatchStatus.CLAIMED, claimed_until=until, attempts=F("attempts") + 1, updated_at=now)
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            locked = due.order_by().select_for_update(skip_locked=True).values("pk")
            claimed = DeliveryBatch.objects.filter(pk__in=locked).update(**claim)
    else:
        # SQLite takes one writer at a time, so a conditional UPDATE is atomic.
        claimed = due.update(**claim)
    return DeliveryBatch.objects.select_related("post__mailing_list__domain").get(pk=batch_id) if claimed else None


BATCH = Columns(DeliveryBatch, "claimed")
POST = Columns(Post, "post")
LIST = Columns(MailingList, "ml")
DOMAIN = Columns(Domain, "dom")


@cache
def claim_batch_sql(many: bool = False) -> str:
    """The claim of batch %(id)s; with `many`, of those of %(ids)s (an array) that are due."""
    quote = connection.ops.quote_name
    table = quote(DeliveryBatch._meta.db_table)
    due = (
        f"SELECT id FROM {table} WHERE id {'= ANY(%(ids)s)' if many else '= %(id)s'}"  # noqa: S608
        " AND ((status IN (%(pending)s, %(retry)s) AND next_attempt_at <= %(now)s)"
        " OR (status = %(claimed)s AND claimed_until < %(now)s)) FOR UPDATE SKIP LOCKED"
    )
    # ANY(ARRAY(...)) runs the SELECT once, as the scalar subquery does.
    which = f"= ANY(ARRAY({due}))" if many else f"= ({due})"
    return (
        # One statement over the rows SKIP LOCKED finds: a claimer never waits
        # for another's transaction, it finds the batch taken and moves on.
        f"WITH claimed AS (UPDATE {table} SET status = %(claimed)s, claimed_until = %(until)s,"  # noqa: S608
        f" attempts = attempts + 1, updated_at = %(now)s WHERE id {which}"
        f" RETURNING {BATCH.names})"
        f" SELECT {BATCH.sql}, {POST.sql}, {LIST.sql}, {DOMAIN.sql} FROM claimed"
        f" JOIN {quote(Post._meta.db_table)} post ON post.id = claimed.post_id"
        f" JOIN {quote(MailingList._meta.db_table)} ml ON ml.id = post.mailing_list_id"
        f" JOIN {quote(Domain._meta.db_table)} dom ON dom.id = ml.domain_id"
        " ORDER BY claimed.id"
    )


def claim_batch_returning(batch_id: int, now: datetime, until: datetime) -> DeliveryBatch | None:
    """`claim_batch` on PostgreSQL: one statement (the SQL is built once)
    claims the batch and returns it with its post, list and domain."""
    claimed = claim_returning({"id": batch_id}, now, until, many=False)
    return claimed[0] if claimed else None


def claim_batches(batch_ids: list[int]) -> list[DeliveryBatch]:
    """claim_batch() for each of `batch_ids`: those claimed, in the order of
    their ids; on PostgreSQL in one statement."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    if connection.vendor == "postgresql":
        return claim_returning({"ids": list(batch_ids)}, now, until, many=True)
    return [batch for batch in map(claim_batch, sorted(batch_ids)) if batch is not None]


def claim_returning(which: dict, now: datetime, until: datetime, *, many: bool) -> list[DeliveryBatch]:
    params = {
        **which,
        "now": now,
        "until": until,
        "claimed": BatchStatus.CLAIMED.value,
        "pending": BatchStatus.PENDING.value,
        "retry": BatchStatus.RETRY.value,
    }
    with prepared.cursor() as cursor:
        cursor.execute(claim_batch_sql(many), params)
        rows = cursor.fetchall()
    return [load_claimed(row) for row in rows]


def load_claimed(row) -> DeliveryBatch:
    batch = BATCH.load(row)
    post = POST.load(row, len(BATCH))
    mlist = LIST.load(row, len(BATCH) + len(POST))
    mlist.domain = DOMAIN.load(row, len(BATCH) + len(POST) + len(LIST))
    post.mailing_list = mlist
    batch.post = post
    return batch


class Claim:
    """The claim a worker holds on a batch while sending it; renews itself."""

    def __init__(self, batch: DeliveryBatch, claimed_at: float | None = None):
        self.batch_id = batch.pk
        self.token = batch.claimed_until
        self.lease = settings.DELIVERY_CLAIM_SECONDS
        # When the claim was taken (time.monotonic()), if not just now.
        self.renewed = time.monotonic() if claimed_at is None else claimed_at

    def holding(self) -> Q:
        return Q(pk=self.batch_id, status=BatchStatus.CLAIMED, claimed_until=self.token)

    def keep(self) -> None:
        """Renew the claim once a third of it has passed; ClaimLost if it is gone."""
        if time.monotonic() - self.renewed < self.lease / 3:
            return
        now = timezone.now()
        until = now + timedelta(seconds=self.lease)
        if not DeliveryBatch.objects.filter(self.holding()).update(claimed_until=until, updated_at=now):
            raise ClaimLost(f"batch {self.batch_id} was taken over by another worker")
        self.token, self.renewed = until, time.monotonic()


# Send


def send_batch(batch_id: int) -> None:
    """Claim batch `batch_id`, send it and record the results. Does nothing
    when the batch is not due or someone else holds it: safe to run twice."""
    batch = claim_batch(batch_id)
    if batch is not None:
        send_claimed(batch)


def send_batches(batch_ids: list[int]) -> None:
    """send_batch() for each of `batch_ids`, claimed together (one statement
    on PostgreSQL) and sent one after the other on this thread's SMTP
    connection. A batch that fails does not stop the others; the first
    error is raised at the end (a retry of the message finds the others done)."""
    error: Exception | None = None
    # The later batches wait for the earlier ones: their claims are renewed
    # by the time they were taken, not by when their sending starts.
    claimed_at = time.monotonic()
    for batch in claim_batches(batch_ids):
        try:
            send_claimed(batch, claimed_at)
        except Exception as exc:
            error = error or exc
    if error is not None:
        raise error


def send_claimed(batch: DeliveryBatch, claimed_at: float | None = None) -> None:
    """Send the claimed `batch` (claimed at `claimed_at`, a time.monotonic(),
    if not just now) and record the results."""
    claim = Claim(batch, claimed_at)
    try:
        results, unsent = deliver(batch, claim)
    except ClaimLost as exc:
        logger.warning("%s; leaving its results to that worker", exc)
        return
    except Exception as exc:
        # Record the batch as temporarily failed so it is retried with backoff
        # (and given up in the end) rather than retried at once forever.
        logger.exception("delivery of batch %d failed", batch.pk)
        record_results(batch, claim, [], batch.recipient_list, Reply(451, f"4.3.0 delivery error: {exc!r}"))
        raise
    record_results(batch, claim, results, unsent.recipients, unsent.reply)


@dataclass
class Unsent:
    """Recipients never handed to the server, and why."""

    recipients: list[str]
    reply: Reply | None = None


def deliver(batch: DeliveryBatch, claim: Claim) -> tuple[list[TransactionResult], Unsent]:
    """Send the batch on this thread's SMTP connection, reconnecting when the
    server drops it; returns the transactions' results and who was not tried."""
    recipients = batch.recipient_list
    envelopes = envelopes_for(batch.post, recipients, claim)
    results: list[TransactionResult] = []
    tried = 0
    for _ in range(1 + RECONNECTS_PER_BATCH):
        try:
            conn = smtp_client.get_connection()
        except SMTPConnectError as exc:
            # Whatever the server said, it was about us, not the recipients: retry.
            logger.warning("batch %d: %s", batch.pk, exc)
            code = exc.code if 400 <= exc.code < 500 else 421
            return results, Unsent(recipients[tried:], Reply(code, f"4.4.1 {exc}"))
        sent_now = conn.send(envelopes)
        results += sent_now
        tried += sum(len(r.envelope.recipients) for r in sent_now)
        if tried >= len(recipients):
            break
    return results, Unsent(recipients[tried:], Reply(421, "4.4.2 the server kept dropping the connection"))


def envelopes_for(post: Post, recipients: list[str], claim: Claim) -> Iterator[Envelope]:
    """The transactions that carry `post` to `recipients`, made lazily so the
    claim is renewed as sending goes on."""
    mlist = post.mailing_list
    raw = delivered_copy(post, bytes(post.raw))
    signer = signer_for(post)
    if signer is not None:
        raw = signer.prepare(raw)
    if mlist.personalize == Personalization.NONE:
        data = wire_data(raw)
        if signer is not None:
            # One signature for the whole batch: every copy is these bytes.
            data = signer.sign(data)
        sender = mlist.subaddress("bounces")
        step = settings.MAX_RECIPIENTS_PER_TRANSACTION
        for start in range(0, len(recipients), step):
            claim.keep()
            yield Envelope(sender, recipients[start : start + step], data)
        return
    personalizer = Personalizer(mlist, raw)
    for number, email in enumerate(recipients):
        if number % 100 == 0:
            claim.keep()
        envelope = personalizer.envelope(email)
        yield envelope if signer is None else replace(envelope, data=signer.sign(envelope.data))


# Record


def retry_delay(attempts: int) -> timedelta:
    delays = settings.DELIVERY_RETRY_DELAYS
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


def record_results(
    batch: DeliveryBatch,
    claim: Claim,
    results: list[TransactionResult],
    unsent: list[str],
    unsent_reply: Reply | None,
) -> bool:
    """Store what one attempt did, in one UPDATE made only under our claim.
    Temporary failures go back as a retry of just those recipients, unless
    the post is older than DELIVERY_MAX_AGE: then they are permanent."""
    now = timezone.now()
    sent: list[str] = []
    refused: dict[str, Reply] = {}
    for result in results:
        sent += result.accepted
        refused.update(result.refused)
    for email in unsent:
        refused[email] = unsent_reply
    temporary = {email: reply for email, reply in refused.items() if not reply.permanent}
    next_attempt = now + retry_delay(batch.attempts)
    give_up = bool(temporary) and next_attempt > batch.post.created_at + timedelta(seconds=settings.DELIVERY_MAX_AGE)
    failures = [f for f in batch.failures if f["permanent"]]
    permanent = 0
    for email, reply in refused.items():
        if reply.permanent or give_up:
            text = reply.text if reply.permanent else f"{reply.text} (given up after {batch.attempts} attempts)"
            failures.append({"email": email, "code": reply.code, "reply": text, "permanent": True})
            permanent += 1
        else:
            failures.append({"email": email, "code": reply.code, "reply": reply.text, "permanent": False})
    changes = {
        "status": BatchStatus.RETRY if temporary and not give_up else BatchStatus.DONE,
        "claimed_until": None,
        "sent_count": batch.sent_count + len(sent),
        "failed_count": batch.failed_count + permanent,
        "failures": failures,
        "updated_at": now,
    }
    if changes["status"] == BatchStatus.RETRY:
        changes["recipients"] = "\n".join(temporary)
        changes["next_attempt_at"] = next_attempt
    if update_held_batch(claim, changes):
        return True
    logger.warning("batch %d was taken over before its results were recorded", batch.pk)
    return False


def update_held_batch(claim: Claim, changes: dict) -> int:
    """Apply `changes` (field name: value) to the claimed batch if `claim`
    still holds it; returns the rows changed (1 or 0). The UPDATE that
    `DeliveryBatch.objects.filter(claim.holding()).update(**changes)` makes,
    written here because every batch ends with it."""
    fields = [DeliveryBatch._meta.get_field(name) for name in changes]
    token = DeliveryBatch._meta.get_field("claimed_until").get_db_prep_value(claim.token, connection)
    with prepared.cursor() as cursor:
        cursor.execute(
            held_batch_update_sql(tuple(changes)),
            [
                *(field.get_db_prep_save(changes[field.name], connection) for field in fields),
                claim.batch_id,
                BatchStatus.CLAIMED.value,
                token,
            ],
        )
        return cursor.rowcount


@cache
def held_batch_update_sql(names: tuple[str, ...]) -> str:
    """update_held_batch()'s statement, setting the fields `names`."""
    quote = connection.ops.quote_name
    columns = [DeliveryBatch._meta.get_field(name).column for name in names]
    return (
        f"UPDATE {quote(DeliveryBatch._meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(column)} = %s" for column in columns)
        + " WHERE id = %s AND status = %s AND claimed_until = %s"
    )


# Read


def progress(post: Post) -> DeliveryProgress:
    """Where the delivery of `post` stands, summed over its batches in one query."""
    sums = post.batches.aggregate(
        total=Coalesce(Sum("recipient_count"), 0),
        sent=Coalesce(Sum("sent_count"), 0),
        failed=Coalesce(Sum("failed_count"), 0),
    )
    return DeliveryProgress(pending=sums["total"] - sums["sent"] - sums["failed"], **sums)


def permanent_failures(post: Post) -> list[DeliveryFailure]:
    """The recipients of `post` refused for good, with the server's reply
    (for bounce processing)."""
    return [
        DeliveryFailure(f["email"], f["code"], f["reply"])
        for failures in post.batches.exclude(failed_count=0).values_list("failures", flat=True)
        for f in failures
        if f["permanent"]
    ]
