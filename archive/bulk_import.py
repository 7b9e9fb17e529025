"""Archiving many messages at once, for imports and groups of posts: the
results of archive.services.archive_message called on each in turn, with a
handful of queries per batch instead of a dozen per message.

A batch is read first; then, holding the list's archive lock, the state
archive.threading keeps in the database is loaded for every thread the
batch can touch (those of the messages it refers to, of the messages that
refer to it, and of their Reference rows), the messages are threaded in
memory in their order, taking the same decisions as archive.threading
(thread chosen, merges, parent, adoptions, counts, root), and the outcome
is written in bulk in the same transaction. Nothing recurses, so any
thread depth is fine.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from archive.models import ArchivedMessage, ListArchive, Reference, Thread
from archive.reading import ReadMessage, message_id_hash, read_message
from archive.services import Archived, archived_row, attachment_rows, lock_archive
from lists.models import MailingList
from messages.models import Post
from messages.rows import bulk_insert

logger = logging.getLogger(__name__)

# Messages per transaction (and per call of archive_messages by the import).
BATCH_SIZE = 500
# Ids in one IN (...) list: well under SQLite's and PostgreSQL's limits.
LOOKUP_CHUNK = 500


@dataclass(eq=False)
class Node:
    """An archived message as threading sees it."""

    hash: str
    # Sorts as (date, pk): existing messages by pk, new ones after, in order.
    order: int
    date: datetime
    sender: str
    subject: str
    thread: "Group"
    parent: "Node | None" = None
    # Its Reference rows: ref_hash -> distance.
    refs: dict[str, int] = field(default_factory=dict)
    pk: int | None = None
    original_thread: int | None = None
    original_parent: int | None = None
    row: ArchivedMessage | None = None

    def parent_pk(self) -> int | None:
        return self.parent.pk if self.parent is not None else None


@dataclass(eq=False)
class Group:
    """A thread: its row's figures, kept as archive.threading keeps them."""

    order: int
    subject: str
    started_at: datetime
    last_activity: datetime
    message_count: int = 0
    participant_count: int = 0
    root: Node | None = None
    members: list[Node] = field(default_factory=list)
    row: Thread | None = None
    merged_away: bool = False


class Batch:
    """The threads a batch touches, loaded, and what threading does to them."""

    def __init__(self, mlist: MailingList, hashes: set[str]):
        self.mlist = mlist
        self.nodes: dict[str, Node] = {}
        self.waiting_on: dict[str, list[tuple[Node, int]]] = defaultdict(list)
        self.groups: list[Group] = []
        self.new_nodes: list[Node] = []
        self.new_groups = 0
        self.merged = 0
        self.sequence = 0
        self.next_order = self.load(hashes)

    def load(self, hashes: set[str]) -> int:
        """Load the threads holding, or waiting for, any of `hashes`; return
        an order above every loaded message's and thread's pk."""
        lookups = sorted(hashes)
        thread_ids: set[int] = set()
        for chunk in chunks(lookups):
            thread_ids.update(
                ArchivedMessage.objects.filter(mailing_list=self.mlist, message_id_hash__in=chunk).values_list(
                    "thread_id", flat=True
                )
            )
            thread_ids.update(
                Reference.objects.filter(mailing_list=self.mlist, ref_hash__in=chunk).values_list(
                    "message__thread_id", flat=True
                )
            )
        by_pk: dict[int, Node] = {}
        parents: dict[int, int | None] = {}
        for chunk in chunks(sorted(thread_ids)):
            for thread in Thread.objects.filter(pk__in=chunk):
                group = Group(
                    order=thread.pk,
                    subject=thread.subject,
                    started_at=thread.started_at,
                    last_activity=thread.last_activity,
                    message_count=thread.message_count,
                    participant_count=thread.participant_count,
                    row=thread,
                )
                self.groups.append(group)
                rows = ArchivedMessage.objects.filter(thread=thread).values_list(
                    "pk", "message_id_hash", "date", "sender_address", "subject", "parent_id"
                )
                for pk, hash_, date, sender, subject, parent_id in rows:
                    node = Node(hash_, pk, date, sender, subject, group, pk=pk, original_thread=thread.pk)
                    node.original_parent = parent_id
                    group.members.append(node)
                    self.nodes[hash_] = node
                    by_pk[pk] = node
                    parents[pk] = parent_id
                group.root = by_pk.get(thread.root_id)
        for pk, parent_id in parents.items():
            by_pk[pk].parent = by_pk.get(parent_id)
        for chunk in chunks(sorted(by_pk)):
            for message_pk, ref_hash, distance in Reference.objects.filter(message_id__in=chunk).values_list(
                "message_id", "ref_hash", "distance"
            ):
                node = by_pk[message_pk]
                node.refs[ref_hash] = distance
                self.waiting_on[ref_hash].append((node, distance))
        # New rows will get pks above every existing one, in the order they
        # are made; orders are only compared within the batch, so above the
        # loaded ones is enough.
        return max([*by_pk, *(group.order for group in self.groups)], default=0) + 1

    def order(self) -> int:
        self.sequence += 1
        return self.next_order + self.sequence

    def place(self, message_hash: str, read: ReadMessage) -> Node:
        """archive.threading.place, in memory."""
        hashes = [message_id_hash(message_id) for message_id in read.references]
        distances = {ref_hash: len(hashes) - position for position, ref_hash in enumerate(hashes)}
        present = [self.nodes[ref_hash] for ref_hash in distances if ref_hash in self.nodes]
        groups = {node.thread for node in present}
        for ref_hash in distances:
            if ref_hash not in self.nodes:
                groups.update(node.thread for node, _distance in self.waiting_on.get(ref_hash, ()))
        waiting = list(self.waiting_on.get(message_hash, ()))
        groups.update(node.thread for node, _distance in waiting)

        group, created, merged = self.join(groups, read)
        node = Node(message_hash, self.order(), read.date, read.sender_address, read.subject, group)
        new_participant = bool(node.sender) and (
            created or not any(member.sender == node.sender for member in group.members)
        )
        node.parent = min(present, key=lambda other: distances[other.hash]) if present else None
        group.members.append(node)
        self.nodes[message_hash] = node
        self.new_nodes.append(node)
        node.refs = distances
        for ref_hash, distance in distances.items():
            self.waiting_on[ref_hash].append((node, distance))
        adopted = adopt(node, waiting)
        update_group(group, node, recount=bool(merged), new_participant=new_participant, root_changed=bool(adopted))
        return node

    def join(self, groups: set[Group], read: ReadMessage) -> tuple[Group, bool, int]:
        """archive.threading.join_threads, in memory."""
        ordered = sorted(groups, key=lambda group: (-group.message_count, group.order))
        if not ordered:
            group = Group(order=self.order(), subject=read.subject, started_at=read.date, last_activity=read.date)
            self.groups.append(group)
            self.new_groups += 1
            return group, True, 0
        group, others = ordered[0], ordered[1:]
        for other in others:
            for member in other.members:
                member.thread = group
            group.members.extend(other.members)
            other.members = []
            other.merged_away = True
            group.message_count += other.message_count
            group.started_at = min(group.started_at, other.started_at)
            group.last_activity = max(group.last_activity, other.last_activity)
        self.merged += len(others)
        return group, False, len(others)

    def save(self, rows: dict[str, tuple[ArchivedMessage, ReadMessage]]) -> None:
        """Write what threading did: threads, messages, references, attachments."""
        new_threads = [group for group in self.groups if group.row is None and not group.merged_away]
        for group in new_threads:
            group.row = Thread(
                mailing_list=self.mlist,
                subject=group.subject,
                started_at=group.started_at,
                last_activity=group.last_activity,
            )
        bulk_insert([group.row for group in new_threads])
        messages = []
        for node in self.new_nodes:
            message, _read = rows[node.hash]
            message.thread = node.thread.row
            message.parent_id = node.parent.pk if node.parent is not None else None
            messages.append(message)
            node.row = message
        bulk_insert(messages)
        for node in self.new_nodes:
            node.pk = node.row.pk
        # Parents made in this batch, messages moved or adopted, and the threads'
        # figures, written with one statement each (UPDATE ... WHERE id, executemany).
        update_rows(
            ArchivedMessage,
            ["parent_id"],
            [
                (node.parent.pk, node.pk)
                for node in self.new_nodes
                if node.parent is not None and node.row.parent_id is None
            ],
        )
        update_rows(
            ArchivedMessage,
            ["thread_id", "parent_id"],
            [
                (node.thread.row.pk, node.parent_pk(), node.pk)
                for group in self.groups
                for node in group.members
                if node.original_thread is not None
                and (node.thread.row.pk != node.original_thread or node.parent_pk() != node.original_parent)
            ],
        )
        gone = [group.row.pk for group in self.groups if group.merged_away and group.row is not None]
        for chunk in chunks(gone):
            Thread.objects.filter(pk__in=chunk).delete()
        adapt = connection.ops.adapt_datetimefield_value
        update_rows(
            Thread,
            ["message_count", "started_at", "last_activity", "participant_count", "root_id", "subject"],
            [
                (
                    group.message_count,
                    adapt(group.started_at),
                    adapt(group.last_activity),
                    group.participant_count,
                    group.root.pk if group.root is not None else None,
                    group.subject,
                    group.row.pk,
                )
                for group in self.groups
                if not group.merged_away
            ],
        )
        bulk_insert(
            [
                Reference(mailing_list=self.mlist, message_id=node.pk, ref_hash=ref_hash, distance=distance)
                for node in self.new_nodes
                for ref_hash, distance in node.refs.items()
            ]
        )
        bulk_insert(
            [attachment for node in self.new_nodes for attachment in attachment_rows(node.row, rows[node.hash][1])]
        )
        ListArchive.objects.filter(mailing_list=self.mlist).update(
            message_count=F("message_count") + len(self.new_nodes),
            thread_count=F("thread_count") + self.new_groups - self.merged,
        )


def update_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """Set `columns` of `model`'s rows: each of `rows` is their values, then the row's id."""
    if not rows:
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in columns)
    statement = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608  names from the model
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)


def adopt(node: Node, waiting: list[tuple[Node, int]]) -> int:
    """archive.threading.adopt, in memory."""
    if not waiting:
        return 0
    current = {
        id(child): child.refs[child.parent.hash]
        for child, _distance in waiting
        if child.parent is not None and child.parent.hash in child.refs
    }
    children = [
        child
        for child, distance in waiting
        if child is not node and (child.parent is None or distance < current.get(id(child), distance + 1))
    ]
    ancestors: set[int] = set()
    if children and node.parent is not None:
        current_node = node.parent
        while current_node is not None and id(current_node) not in ancestors:
            ancestors.add(id(current_node))
            current_node = current_node.parent
    children = [child for child in children if id(child) not in ancestors]
    for child in children:
        child.parent = node
    return len(children)


def update_group(group: Group, node: Node, *, recount: bool, new_participant: bool, root_changed: bool) -> None:
    """archive.threading.update_thread, in memory."""
    group.message_count += 1
    group.started_at = min(group.started_at, node.date)
    group.last_activity = max(group.last_activity, node.date)
    if recount:
        group.participant_count = len({member.sender for member in group.members if member.sender})
    elif new_participant:
        group.participant_count += 1
    if group.root is None:
        group.root, group.subject = node, node.subject
    elif recount or root_changed or node.parent is None:
        roots = [member for member in group.members if member.parent is None]
        if roots:
            root = min(roots, key=lambda member: (member.date, member.order))
            group.root, group.subject = root, root.subject


def chunks(items: Sequence) -> Iterable[Sequence]:
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]


def archive_messages(mlist: MailingList, messages: Sequence[tuple[bytes, datetime | None]]) -> list[Archived]:
    """Archive each (raw, received_at) of `messages` in order, in one
    transaction, as archive_message would one by one (without posts):
    a message whose Message-ID is archived already is skipped and returned
    with created=False; a broken one is kept, marked broken."""
    now = timezone.now()
    return archive_read_messages(
        mlist, [(bytes(raw), read_message(bytes(raw), received_at or now)) for raw, received_at in messages]
    )


def archive_read_messages(
    mlist: MailingList, reads: Sequence[tuple[bytes, ReadMessage]], posts: Sequence[Post] | None = None
) -> list[Archived]:
    """archive_messages for messages read already, each new row linked to
    the post at its place in `posts` when given. archive_message's rules
    for a post whose Message-ID is archived already are not applied here:
    such a message is skipped like any other (the caller keeps those out)."""
    hashes = set()
    for _raw, read in reads:
        hashes.add(message_id_hash(read.message_id))
        hashes.update(message_id_hash(message_id) for message_id in read.references)
    results: list[Archived | str] = []
    with transaction.atomic():
        lock_archive(mlist)
        batch = Batch(mlist, hashes)
        rows: dict[str, tuple[ArchivedMessage, ReadMessage]] = {}
        for position, (raw, read) in enumerate(reads):
            message_hash = message_id_hash(read.message_id)
            if message_hash in batch.nodes:
                results.append(message_hash)
                continue
            post = posts[position] if posts is not None else None
            rows[message_hash] = (archived_row(mlist, raw, read, post), read)
            batch.place(message_hash, read)
            results.append(Archived(rows[message_hash][0], created=True))
            if read.error:
                logger.warning("Archived a broken message in %s: %s", mlist, read.error)
        batch.save(rows)
    skipped = [item for item in results if isinstance(item, str)]
    existing = {}
    for chunk in chunks(skipped):
        existing.update(
            (message.message_id_hash, message)
            for message in ArchivedMessage.objects.filter(mailing_list=mlist, message_id_hash__in=chunk).defer("raw")
        )
    return [item if isinstance(item, Archived) else Archived(existing[item], created=False) for item in results]
