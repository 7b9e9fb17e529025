"""Threading archived messages as they arrive, in the spirit of JWZ's algorithm.

JWZ threads a whole mailbox at once; the archive threads one message at a
time, so the state his algorithm keeps in memory is kept in the database:

- every Message-ID a message refers to is a Reference row, whether that
  message is archived or not. A missing message is JWZ's empty container:
  the replies waiting on it share its thread, and when it arrives it adopts
  them (those whose nearest archived ancestor it now is).
- a thread is everything connected by Message-ID, In-Reply-To and
  References; a message that connects two threads merges them, the
  smaller into the larger.
- a message's parent is its nearest archived ancestor; no link is ever
  made that would put a message below itself (loops in References).

Subjects are not used: JWZ's grouping of root sets by subject joins
unrelated "Re: help" threads on a busy list, and the References of today's
clients make it unnecessary. Nothing here recurses, so no thread depth is
too deep; the caller holds the list's archive lock (see archive.services).
"""

from dataclasses import dataclass

from archive.models import ArchivedMessage, Reference, Thread
from archive.reading import message_id_hash


@dataclass(frozen=True)
class Placed:
    """What threading one message did to the list's threads."""

    new_thread: bool
    threads_merged: int
    adopted: int


def place(message: ArchivedMessage, references: list[str]) -> Placed:
    """Save the unsaved `message` in its thread, under its parent, adopting
    the replies that were waiting for it. `references` are the Message-IDs
    it refers to, oldest first (archive.reading.reference_chain)."""
    hashes = [message_id_hash(message_id) for message_id in references]
    distances = {ref_hash: len(hashes) - position for position, ref_hash in enumerate(hashes)}
    mlist_id = message.mailing_list_id
    present = list(
        ArchivedMessage.objects.filter(mailing_list_id=mlist_id, message_id_hash__in=hashes).values_list(
            "pk", "message_id_hash", "thread_id"
        )
        if hashes
        else []
    )
    thread_ids = {thread_id for _pk, _hash, thread_id in present}
    missing = set(hashes) - {ref_hash for _pk, ref_hash, _thread in present}
    if missing:
        # Replies to the same missing message belong to one thread.
        thread_ids.update(
            Reference.objects.filter(mailing_list_id=mlist_id, ref_hash__in=missing).values_list(
                "message__thread_id", flat=True
            )
        )
    waiting = list(
        Reference.objects.filter(mailing_list_id=mlist_id, ref_hash=message.message_id_hash).values_list(
            "message_id", "distance", "message__parent_id", "message__thread_id"
        )
    )
    thread_ids.update(thread_id for *_rest, thread_id in waiting)

    thread, created, merged = join_threads(message, thread_ids)
    new_participant = bool(message.sender_address) and (
        created or not ArchivedMessage.objects.filter(thread=thread, sender_address=message.sender_address).exists()
    )
    message.thread = thread
    message.parent_id = min(present, key=lambda row: distances[row[1]])[0] if present else None
    message.save()
    Reference.objects.bulk_create(
        Reference(mailing_list_id=mlist_id, message=message, ref_hash=ref_hash, distance=distance)
        for ref_hash, distance in distances.items()
    )
    adopted = adopt(message, waiting)
    update_thread(thread, message, recount=bool(merged), new_participant=new_participant, root_changed=bool(adopted))
    return Placed(new_thread=created, threads_merged=merged, adopted=adopted)


def join_threads(message: ArchivedMessage, thread_ids: set[int]) -> tuple[Thread, bool, int]:
    """The thread `message` goes to: a new one, or the largest of
    `thread_ids` with the others merged into it. Returns it, whether it is
    new, and how many threads were merged away."""
    threads = sorted(Thread.objects.filter(pk__in=thread_ids), key=lambda thread: (-thread.message_count, thread.pk))
    if not threads:
        thread = Thread.objects.create(
            mailing_list_id=message.mailing_list_id,
            subject=message.subject,
            started_at=message.date,
            last_activity=message.date,
        )
        return thread, True, 0
    thread, others = threads[0], threads[1:]
    if others:
        other_ids = [other.pk for other in others]
        # Moving the smaller threads keeps the rows moved over a list's life few.
        ArchivedMessage.objects.filter(thread_id__in=other_ids).update(thread=thread)
        thread.message_count += sum(other.message_count for other in others)
        thread.started_at = min([thread.started_at, *(other.started_at for other in others)])
        thread.last_activity = max([thread.last_activity, *(other.last_activity for other in others)])
        Thread.objects.filter(pk__in=other_ids).delete()
    return thread, False, len(others)


def adopt(message: ArchivedMessage, waiting: list[tuple[int, int, int | None, int]]) -> int:
    """Make `message` the parent of the replies waiting for it whose nearest
    archived ancestor it now is, unless one is its own ancestor. Returns
    how many it adopted."""
    if not waiting:
        return 0
    parent_ids = {parent_id for _pk, _distance, parent_id, _thread in waiting if parent_id is not None}
    parent_hashes = dict(ArchivedMessage.objects.filter(pk__in=parent_ids).values_list("pk", "message_id_hash"))
    current: dict[int, int] = {}
    if parent_hashes:
        rows = Reference.objects.filter(
            message_id__in=[pk for pk, _distance, parent_id, _thread in waiting if parent_id is not None],
            ref_hash__in=set(parent_hashes.values()),
        ).values_list("message_id", "ref_hash", "distance", "message__parent_id")
        current = {
            pk: distance for pk, ref_hash, distance, parent_id in rows if parent_hashes.get(parent_id) == ref_hash
        }
    children = [
        pk
        for pk, distance, parent_id, _thread in waiting
        if pk != message.pk and (parent_id is None or distance < current.get(pk, distance + 1))
    ]
    ancestors = ancestors_of(message) if children and message.parent_id is not None else set()
    children = [pk for pk in children if pk not in ancestors]
    if children:
        ArchivedMessage.objects.filter(pk__in=children).update(parent=message)
    return len(children)


def ancestors_of(message: ArchivedMessage) -> set[int]:
    """The ids of `message`'s ancestors, walked up its thread in memory (one
    query, however deep); stops at a loop rather than going round it."""
    parents = dict(ArchivedMessage.objects.filter(thread_id=message.thread_id).values_list("pk", "parent_id"))
    ancestors: set[int] = set()
    current = message.parent_id
    while current is not None and current not in ancestors:
        ancestors.add(current)
        current = parents.get(current)
    return ancestors


def update_thread(
    thread: Thread, message: ArchivedMessage, *, recount: bool, new_participant: bool, root_changed: bool
) -> None:
    """Count `message` into its thread: messages, participants, dates, root."""
    thread.message_count += 1
    thread.started_at = min(thread.started_at, message.date)
    thread.last_activity = max(thread.last_activity, message.date)
    messages = ArchivedMessage.objects.filter(thread=thread)
    if recount:
        thread.participant_count = (
            messages.exclude(sender_address="").values("sender_address").distinct().order_by().count()
        )
    elif new_participant:
        thread.participant_count += 1
    if thread.root_id is None:
        thread.root, thread.subject = message, message.subject
    elif recount or root_changed or message.parent_id is None:
        # The root is the earliest message without a parent; it changes when
        # an earlier message or a parent arrives, or threads merge.
        root = messages.filter(parent=None).order_by("date", "pk").only("pk", "subject").first()
        if root is not None:
            thread.root, thread.subject = root, root.subject
    thread.save(update_fields=["message_count", "started_at", "last_activity", "participant_count", "root", "subject"])
