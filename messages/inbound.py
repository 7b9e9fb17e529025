"""Storing a message as the MTA handed it over, and queueing it for processing.

An accepted message is never only in memory: the LMTP receiver answers 250
only after `store_inbound()` has committed, and the broker message sent
after the commit is only a nudge (the sweeper re-sends queued rows whose
nudge was lost).
"""

import hashlib
import logging
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import cache, partial

from django.db import connection, transaction
from django.utils import timezone

from messages.addresses import Recipient
from messages.models import Destination, InboundMessage, InboundStatus
from messages.rows import client_side_binding, insert_fields, insert_params, mark_saved
from messages.tasks import process_inbound

logger = logging.getLogger(__name__)

# The header section ends at the first empty line; bare LF is tolerated.
HEADER_END = re.compile(rb"\r?\n\r?\n")
# RFC 5322 section 3.6.4, read leniently: any case, folded or not.
MESSAGE_ID_HEADER = re.compile(rb"^message-id[ \t]*:(?P<value>.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
MSG_ID = re.compile(r"<[^<>\s]*>")
TEXT_LIMIT = InboundMessage._meta.get_field("message_id").max_length


def store_inbound(
    mail_from: str,
    recipients: Sequence[Recipient],
    raw: bytes,
    *,
    nudge: Callable[[int, int | None], None] | None = None,
) -> list[InboundMessage]:
    """Store `raw` once for each recipient in one transaction; after the
    commit, send each new row's id (and a post's list) to the
    `process_inbound` actor (through `nudge`, such as a QueueingThread's
    `put`, when given).

    `raw` is kept byte for byte. `mail_from` is the envelope sender, "" for
    the null reverse-path. Rows come back in the order of `recipients`.

    All rows are written or none: any error (the database unreachable, a
    list deleted meanwhile) propagates with nothing stored, so the caller
    can ask the MTA to retry.

    A retried delivery (same list, destination, argument, Message-ID and
    digest as a stored row) gets a row too, with status DUPLICATE, and is
    not queued: the MTA may re-send a message whose 250 it missed, and the
    row shows an admin that it did, while the message is processed once.
    """
    digest = hashlib.sha256(raw).hexdigest()
    message_id = parse_message_id(raw)
    rows = [
        InboundMessage(
            mailing_list=recipient.mailing_list,
            destination=recipient.destination,
            subaddress_argument=db_text(recipient.argument),
            mail_from=db_text(mail_from),
            rcpt_to=db_text(recipient.address),
            raw=raw,
            size=len(raw),
            message_id=message_id,
            digest=digest,
        )
        for recipient in recipients
    ]
    if client_side_binding():
        # Within a caller's transaction, a savepoint keeps a failure ours.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            _insert_in_one_round_trip(rows)
    else:
        with transaction.atomic():
            _take_turns_on(digest)
            stored = _stored_for(recipients, message_id, digest)
            for row in rows:
                key = (row.mailing_list_id, row.destination, row.subaddress_argument)
                if key in stored:
                    row.status = InboundStatus.DUPLICATE
                stored.add(key)
                row.save()
    for row in rows:
        if row.status == InboundStatus.QUEUED:
            # A post's nudge names its list: any queued post of the list will do.
            list_id = row.mailing_list_id if row.destination == Destination.POST else None
            transaction.on_commit(partial(nudge or queue_for_processing, row.pk, list_id))
    return rows


@cache
def outcome_sql() -> str:
    """UPDATE recording how processing an inbound message ended, only while
    it is still "processing" (the claim is ours). Parameters: outcome_params()."""
    table = connection.ops.quote_name(InboundMessage._meta.db_table)
    return f"UPDATE {table} SET status = %s, error = %s, processed_at = %s WHERE id = %s AND status = %s"  # noqa: S608


def outcome_params(inbound_id: int, status: str, note: str = "") -> list:
    """outcome_sql()'s parameters: the row `inbound_id` ended as `status`, with a `note` for admins, now."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    return [str(status), note, now, inbound_id, InboundStatus.PROCESSING.value]


def parse_message_id(raw: bytes) -> str:
    """The Message-ID of `raw` with its angle brackets ("<id@host>"), or ""
    when there is none. Never raises, whatever the bytes."""
    match = HEADER_END.search(raw)
    headers = raw[: match.start()] if match else raw
    header = MESSAGE_ID_HEADER.search(headers)
    if header is None:
        return ""
    value = db_text(re.sub(rb"\s+", b" ", header["value"]).decode("utf-8", "replace").strip())
    msg_id = MSG_ID.search(value)
    return msg_id.group() if msg_id else value


def db_text(value: str, max_length: int = TEXT_LIMIT) -> str:
    """`value` as text every database takes: bytes that were not UTF-8
    (kept by SMTPUTF8's surrogateescape) replaced, NUL removed, cut to
    `max_length` characters."""
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "replace")
    return data.decode("utf-8", "replace").replace("\x00", "")[:max_length]


def _insert_in_one_round_trip(rows: list[InboundMessage]) -> None:
    """Store `rows` (one message's, unsaved) as `store_inbound` does, in one
    round trip on PostgreSQL: the advisory lock and an INSERT per row that
    finds its own duplicates, sent as one query string, which the server
    runs as one transaction and commits before it answers. Each statement
    sees what committed before it began, so the duplicate check comes after
    the lock is held (READ COMMITTED takes a snapshot per statement)."""
    fields = insert_fields(InboundMessage)
    statements = ["SELECT pg_advisory_xact_lock(%s)"]
    params: list = [_lock_key(rows[0].digest)]
    seen: set[tuple] = set()
    for row in rows:
        key = (row.mailing_list_id, row.destination, row.subaddress_argument)
        # A second recipient naming the same list address in one delivery is its duplicate.
        first = key not in seen
        seen.add(key)
        row.status = InboundStatus.QUEUED if first else InboundStatus.DUPLICATE
        statements.append(_insert_sql(first))
        values = insert_params(row, fields)
        if first:
            status = fields.index(InboundMessage._meta.get_field("status"))
            values[status:status] = [*key, row.message_id, row.digest]
        params += values
    with connection.cursor() as cursor:
        cursor.execute(";\n".join(statements), params)
        for row in rows:
            cursor.nextset()
            pk, row.status = cursor.fetchone()
            mark_saved(row, pk)


@cache
def _insert_sql(check_duplicates: bool) -> str:
    """INSERT of one InboundMessage row from its field values in
    `concrete_fields` order (the primary key left out). With
    `check_duplicates` its status becomes DUPLICATE when a row with the same
    list, destination, argument, Message-ID and digest is stored: those five
    parameters come just before the status's own."""
    quote = connection.ops.quote_name
    fields = insert_fields(InboundMessage)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join("%s" for _ in fields)
    table = quote(InboundMessage._meta.db_table)
    if not check_duplicates:
        return f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING id, status"  # noqa: S608
    status = fields.index(InboundMessage._meta.get_field("status"))
    stored = (
        f"EXISTS (SELECT 1 FROM {table} WHERE mailing_list_id = %s AND destination = %s"  # noqa: S608
        " AND subaddress_argument = %s AND message_id = %s AND digest = %s)"
    )
    expressions = ["%s"] * len(fields)
    expressions[status] = f"CASE WHEN {stored} THEN '{InboundStatus.DUPLICATE.value}' ELSE %s END"
    return f"INSERT INTO {table} ({columns}) SELECT {', '.join(expressions)} RETURNING id, status"


def _stored_for(recipients: Sequence[Recipient], message_id: str, digest: str) -> set[tuple[int, str, str]]:
    """(list, destination, argument) of each row already stored with this
    Message-ID and digest for the recipients' lists: one query for all."""
    return set(
        InboundMessage.objects.filter(
            mailing_list__in={recipient.mailing_list.pk for recipient in recipients},
            message_id=message_id,
            digest=digest,
        ).values_list("mailing_list_id", "destination", "subaddress_argument")
    )


def _lock_key(digest: str) -> int:
    return int.from_bytes(bytes.fromhex(digest)[:8], "big", signed=True)


def _take_turns_on(digest: str) -> None:
    """Make two deliveries of the same bytes store one after the other, so
    the second one's duplicate check sees the first one's rows.

    SQLite needs nothing: its IMMEDIATE transactions already write one at a
    time. On PostgreSQL a transaction-scoped advisory lock on the digest does
    it without a unique constraint (a message may be stored twice, as a
    duplicate).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(digest)])


def queue_for_processing(inbound_id: int, list_id: int | None = None) -> None:
    """Send the stored message `inbound_id` to the `process_inbound` actor
    (with `list_id` for a post: see messages.dispatch).

    The row is committed: a broker that is down only delays it (logged, not
    raised), so the 250 stands and the sweeper sends the nudge again."""
    try:
        process_inbound.send(inbound_id, list_id)
    except Exception:
        logger.exception("Could not queue inbound message #%s; the sweeper will queue it again", inbound_id)


# Posts to one list that one actor call processes at most (messages.dispatch):
# under load posts queue up, and a group shares its claim, its broker
# messages and its archive transaction. 32: with 64, groups used a few per
# cent less machine time a post but the workers' memory grew by 8 MB each
# (benchmarks/README.md).
GROUP_SIZE = 32
# A list's posts get one nudge in this many seconds at most; those that
# come meanwhile wait for the next one, and go in one nudge a GROUP_SIZE.
# A nudge makes a worker take a group of the list's queued posts, so one a
# post was mostly taken by a worker only to find its post in another's
# group. One post at a time still goes out at once. 50 ms: at about 300
# posts a second, a nudge finds about a group's worth waiting (with 20 ms,
# groups were smaller and a post took more machine time: benchmarks/README.md).
NUDGE_INTERVAL = 0.05


class QueueingThread:
    """Sends the receiver's messages to the `process_inbound` actor from a
    thread of its own, so that the MTA's 250 does not wait on the broker
    (about 0.7 ms a message on Redis, a quarter of the receiver's time),
    and a list's posts in one nudge every NUDGE_INTERVAL at most (one per
    GROUP_SIZE posts): each worker that takes one then has posts to
    process.

    Nothing is lost with it: a message is stored before it is put here, and
    a nudge that dies with the process is sent again by the sweeper, as when
    the broker is down. `stop()` sends what is waiting first.
    """

    _running: "weakref.WeakSet[QueueingThread]" = weakref.WeakSet()

    def __init__(self, interval: float = NUDGE_INTERVAL) -> None:
        self._interval = interval
        self._waiting: queue.Queue[tuple[int, int | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._send, name="inbound-queueing", daemon=True)
        # By list: the posts waiting for the next nudge, and when the last went out.
        self._held: dict[int, list[int]] = {}
        self._last_nudged: dict[int, float] = {}

    def start(self) -> None:
        self._thread.start()
        self._running.add(self)

    def put(self, inbound_id: int, list_id: int | None = None) -> None:
        self._waiting.put((inbound_id, list_id))

    def wait_until_sent(self) -> None:
        self._waiting.join()

    def stop(self, timeout: float = 30.0) -> None:
        self._waiting.put(None)
        self._thread.join(timeout)
        self._running.discard(self)

    def _send(self) -> None:
        while True:
            try:
                item = self._waiting.get(timeout=self._until_next_due())
            except queue.Empty:
                self._send_due(time.monotonic())
                continue
            if item is None:
                self._send_due(float("inf"))
                self._waiting.task_done()
                return
            inbound_id, list_id = item
            now = time.monotonic()
            if list_id is None:
                queue_for_processing(inbound_id)
                self._waiting.task_done()
            elif list_id in self._held or now - self._last_nudged.get(list_id, -self._interval) < self._interval:
                self._held.setdefault(list_id, []).append(inbound_id)
            else:
                self._nudge(list_id, [inbound_id], now)
            self._send_due(now)

    def _until_next_due(self) -> float | None:
        if not self._held:
            return None
        due = min(self._last_nudged[list_id] for list_id in self._held) + self._interval
        return max(0.0, due - time.monotonic())

    def _send_due(self, now: float) -> None:
        for list_id in [list_id for list_id in self._held if now - self._last_nudged[list_id] >= self._interval]:
            self._nudge(list_id, self._held.pop(list_id), now)
        if len(self._last_nudged) > 1024:
            # Forget the lists no nudge went to lately.
            recent = {list_id for list_id, at in self._last_nudged.items() if now - at < self._interval}
            self._last_nudged = {list_id: self._last_nudged[list_id] for list_id in recent | self._held.keys()}

    def _nudge(self, list_id: int, inbound_ids: list[int], now: float) -> None:
        for start in range(0, len(inbound_ids), GROUP_SIZE):
            queue_for_processing(inbound_ids[start], list_id)
        self._last_nudged[list_id] = now
        for _ in inbound_ids:
            self._waiting.task_done()


def wait_until_queued() -> None:
    """Return once every running QueueingThread has sent what it was given
    (tests look in the broker's queue after the 250)."""
    for sender in list(QueueingThread._running):
        sender.wait_until_sent()
