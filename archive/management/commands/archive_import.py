"""manage.py archive_import NAME@DOMAIN FILE.mbox: add an mbox to a list's archive."""

import multiprocessing
import os
import queue

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from archive.bulk_import import BATCH_SIZE, archive_messages
from archive.mbox import MboxMessage, read_mbox
from archive.search_indexing import IMPORT_INDEX_BATCH, index_messages
from lists.services import get_list
from mailman_site.cli import printable, progress_bar, service_errors

# Messages archived in one transaction and indexed in one write; without a
# progress bar (not a terminal), a line after each such batch.
PROGRESS_EVERY = BATCH_SIZE


# Batches of ids waiting for the indexing process; the import waits beyond.
INDEX_QUEUE_DEPTH = 4


class IndexingProcess:
    """Indexes what the import archived, in a process of its own, while the
    import archives the next batches: the two halves of the work use two
    cores. Each batch is sent after its transaction committed. Should the
    process fail, the messages it did not index stay unindexed and the
    sweeper sends them to the index actor later."""

    def __init__(self):
        context = multiprocessing.get_context("fork")
        # The child opens its own database connections.
        connections.close_all()
        self.batches = context.Queue(maxsize=INDEX_QUEUE_DEPTH)
        self.results = context.Queue()
        self.process = context.Process(target=index_batches, args=(self.batches, self.results), daemon=True)
        self.process.start()

    def send(self, message_ids: list[int]) -> None:
        while True:
            try:
                self.batches.put(message_ids, timeout=1)
                return
            except queue.Full:
                self.check_alive()

    def finish(self) -> int:
        """Wait for the process to index what it was sent; how many it indexed."""
        self.send([])
        while True:
            try:
                outcome, value = self.results.get(timeout=1)
                break
            except queue.Empty:
                self.check_alive()
        self.process.join()
        if outcome == "error":
            raise CommandError(f"Indexing failed ({value}); the sweeper will index the rest later.")
        return value

    def check_alive(self) -> None:
        if not self.process.is_alive():
            raise CommandError("The indexing process died; the sweeper will index the rest later.")


def index_batches(batches: multiprocessing.Queue, results: multiprocessing.Queue) -> None:
    indexed = 0
    try:
        while message_ids := batches.get():
            indexed += index_messages(message_ids, batch_size=IMPORT_INDEX_BATCH)
    except Exception as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        connections.close_all()
    results.put(("done", indexed))


def can_index_in_parallel() -> bool:
    """Another process sees the committed batches only outside a transaction
    and on a database that is not in this process's memory (tests)."""
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    return not connection.in_atomic_block and not in_memory


class Command(BaseCommand):
    help = (
        "Import an mbox (Mailman 2 pipermail, Mailman 3/HyperKitty export, any mbox) into a list's archive. "
        "Messages already archived (same Message-ID) are skipped, so it can be run again; "
        "messages that cannot be read are kept, marked broken, and listed. "
        f"Messages are archived and indexed for search {PROGRESS_EVERY} at a time."
    )

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("path", metavar="FILE.mbox")

    def handle(self, *args, fqdn_listname, path, **options):
        with service_errors():
            mlist = get_list(fqdn_listname)
        try:
            stream = open(path, "rb")
            size = os.fstat(stream.fileno()).st_size
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        counts = {"imported": 0, "skipped": 0, "broken": 0, "indexed": 0}
        with stream, progress_bar(size, self.stderr, unit="B") as advance:
            self.position, self.reported, self.advance, self.size = 0, 0, advance, size
            self.pending: list[int] = []
            self.indexer = IndexingProcess() if can_index_in_parallel() else None
            batch: list[tuple[int, MboxMessage]] = []
            for number, entry in enumerate(read_mbox(stream), start=1):
                batch.append((number, entry))
                if len(batch) == PROGRESS_EVERY:
                    self.import_batch(mlist, batch, counts)
                    batch = []
            self.import_batch(mlist, batch, counts)
            self.index_pending(counts)
            if self.indexer is not None:
                counts["indexed"] = self.indexer.finish()
        self.stdout.write(f"{counts['indexed']:,} indexed for search")
        self.stdout.write(
            f"{counts['imported']:,} imported, {counts['skipped']:,} skipped (already archived), "
            f"{counts['broken']:,} broken (kept)"
        )

    def index_pending(self, counts: dict[str, int]) -> None:
        """Index the messages imported since the last call, in one write (or
        send them to the indexing process)."""
        if self.indexer is not None:
            if self.pending:
                self.indexer.send(self.pending)
        else:
            counts["indexed"] += index_messages(self.pending, batch_size=IMPORT_INDEX_BATCH)
        self.pending = []

    def import_batch(self, mlist, batch: list[tuple[int, MboxMessage]], counts: dict[str, int]) -> None:
        """Archive `batch` in one transaction, index what it added once
        IMPORT_INDEX_BATCH are waiting, report."""
        if not batch:
            return
        results = archive_messages(mlist, [(entry.raw, entry.received_at) for _number, entry in batch])
        for (number, entry), archived in zip(batch, results, strict=True):
            if not archived.created:
                counts["skipped"] += 1
            elif archived.message.is_broken:
                counts["broken"] += 1
                self.stderr.write(
                    f"message {number} (byte {self.position:,}) is broken, kept as "
                    f"<{printable(archived.message.message_id, 100)}>: {printable(archived.message.error, 200)}"
                )
            else:
                counts["imported"] += 1
            self.position = entry.offset
        self.pending.extend(archived.message.pk for archived in results if archived.created)
        if len(self.pending) >= IMPORT_INDEX_BATCH:
            self.index_pending(counts)
        if self.advance is not None:
            self.advance(batch[-1][1].offset - self.reported)
        else:
            self.stdout.write(f"{batch[-1][0]:,} messages read ({batch[-1][1].offset * 100 // max(self.size, 1)}%)")
        self.reported = batch[-1][1].offset
