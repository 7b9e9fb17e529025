"""Keeping the search index in step with the archive, off the mail path.

A message is indexed by the `index_archived` actor once the transaction
that archived it commits, and removed by `unindex_archived` once the one
that deleted it commits. `ArchivedMessage.indexed` says what the index
holds: a message whose broker message was lost stays unindexed, and the
sweeper sends it again (`sweep_unindexed`). Indexing is idempotent, so a
message sent twice costs a second write, nothing more.

Only haystack's API is used here, so the engine stays a matter of
SEARCH_URL.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import signals
from haystack import connections
from haystack.signals import BaseSignalProcessor

from archive.models import ArchivedMessage

logger = logging.getLogger(__name__)

# Messages per index write (and per actor message).
INDEX_BATCH = 500
# Per index write when importing: fewer, larger segments to merge.
IMPORT_INDEX_BATCH = 2500
# Unindexed messages sent again per sweep; a larger backlog waits for the next.
SWEEP_LIMIT = 10_000


def search_index(using: str = "default"):
    return connections[using].get_unified_index().get_index(ArchivedMessage)


def index_messages(message_ids: Sequence[int], using: str = "default", batch_size: int = INDEX_BATCH) -> int:
    """Index the archived messages `message_ids` (one write per `batch_size`) and
    mark them indexed; ids no longer archived are removed from the index.
    Returns how many were indexed."""
    index = search_index(using)
    backend = connections[using].get_backend()
    indexed = 0
    for start in range(0, len(message_ids), batch_size):
        chunk = list(message_ids[start : start + batch_size])
        messages = list(index.index_queryset(using).filter(pk__in=chunk))
        backend.update(index, messages)
        ArchivedMessage.objects.filter(pk__in=[message.pk for message in messages]).update(indexed=True)
        found = {message.pk for message in messages}
        remove_from_index([pk for pk in chunk if pk not in found], using)
        indexed += len(messages)
    return indexed


def remove_from_index(message_ids: Iterable[int], using: str = "default") -> None:
    identifiers = [f"{ArchivedMessage._meta.label_lower}.{pk}" for pk in message_ids]
    if not identifiers:
        return
    backend = connections[using].get_backend()
    if hasattr(backend, "remove_many"):
        backend.remove_many(identifiers)
    else:
        for identifier in identifiers:
            backend.remove(identifier)


def index_on_commit(message_ids: Sequence[int]) -> None:
    """Once the current transaction commits, send `message_ids` to be indexed."""
    if message_ids:
        ids = list(message_ids)
        transaction.on_commit(lambda: send_to_index(ids))


def send_to_index(message_ids: list[int]) -> None:
    from archive.tasks import index_archived

    try:
        for start in range(0, len(message_ids), INDEX_BATCH):
            index_archived.send(message_ids[start : start + INDEX_BATCH])
    except Exception:
        # The messages stay unindexed in the database; the sweeper sends them again.
        logger.exception("could not send %d archived messages to the index queue", len(message_ids))


def send_removal(message_id: int) -> None:
    from archive.tasks import unindex_archived

    try:
        unindex_archived.send([message_id])
    except Exception:
        logger.exception("could not send archived message %d to be removed from the index", message_id)


class IndexOnCommit(BaseSignalProcessor):
    """HAYSTACK_SIGNAL_PROCESSOR: a deleted archived message leaves the
    index through the actor once its deletion commits. (Saves are indexed
    explicitly, by archiving and importing, in batches.)"""

    def setup(self) -> None:
        signals.post_delete.connect(self.handle_delete, sender=ArchivedMessage)

    def teardown(self) -> None:
        signals.post_delete.disconnect(self.handle_delete, sender=ArchivedMessage)

    def handle_delete(self, sender, instance, **kwargs) -> None:
        pk = instance.pk
        transaction.on_commit(lambda: send_removal(pk))


def sweep_unindexed(now: datetime, grace: timedelta) -> int:
    """Send again the messages archived more than `grace` ago and still
    not indexed. Returns how many were sent."""
    lost = ArchivedMessage.objects.filter(indexed=False, created_at__lte=now - grace).order_by("created_at")
    message_ids = list(lost.values_list("pk", flat=True)[:SWEEP_LIMIT])
    send_to_index(message_ids)
    return len(message_ids)
