"""manage.py archive_import NAME@DOMAIN FILE.mbox: add an mbox to a list's archive."""

import os

from django.core.management.base import BaseCommand, CommandError

from archive.mbox import read_mbox
from archive.services import archive_message
from lists.services import get_list
from mailman_site.cli import printable, progress_bar, service_errors

# Without a progress bar (not a terminal), a line every this many messages.
PROGRESS_EVERY = 1000


class Command(BaseCommand):
    help = (
        "Import an mbox (Mailman 2 pipermail, Mailman 3/HyperKitty export, any mbox) into a list's archive. "
        "Messages already archived (same Message-ID) are skipped, so it can be run again; "
        "messages that cannot be read are kept, marked broken, and listed."
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
        counts = {"imported": 0, "skipped": 0, "broken": 0}
        with stream, progress_bar(size, self.stderr, unit="B") as advance:
            position = 0
            for number, entry in enumerate(read_mbox(stream), start=1):
                archived = archive_message(mlist, entry.raw, received_at=entry.received_at)
                if not archived.created:
                    counts["skipped"] += 1
                elif archived.message.is_broken:
                    counts["broken"] += 1
                    self.stderr.write(
                        f"message {number} (byte {position:,}) is broken, kept as "
                        f"<{printable(archived.message.message_id, 100)}>: {printable(archived.message.error, 200)}"
                    )
                else:
                    counts["imported"] += 1
                if advance is not None:
                    advance(entry.offset - position)
                elif number % PROGRESS_EVERY == 0:
                    self.stdout.write(f"{number:,} messages read ({entry.offset * 100 // max(size, 1)}%)")
                position = entry.offset
        self.stdout.write(
            f"{counts['imported']:,} imported, {counts['skipped']:,} skipped (already archived), "
            f"{counts['broken']:,} broken (kept)"
        )
