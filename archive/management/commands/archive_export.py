"""manage.py archive_export NAME@DOMAIN [--month YYYY-MM] [--output FILE]: a list's archive as mbox."""

import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from archive.mbox import mbox_entry
from archive.models import ArchivedMessage
from lists.services import get_list
from mailman_site.cli import service_errors


def month_range(month: str) -> tuple[datetime, datetime]:
    """The first instant of the month "YYYY-MM" and of the month after, in UTC."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--month: {month!r} is not a month written YYYY-MM") from None
    following = (
        start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    )
    return start, following


class Command(BaseCommand):
    help = "Write a list's archive, or one month of it, as an mbox (mboxrd, oldest first)."

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("--month", metavar="YYYY-MM", help="Only the messages dated in this month (UTC).")
        parser.add_argument("--output", metavar="FILE", help="Write to FILE (default: standard output).")

    def handle(self, *args, fqdn_listname, month, output, **options):
        with service_errors():
            mlist = get_list(fqdn_listname)
        messages = ArchivedMessage.objects.filter(mailing_list=mlist)
        if month:
            start, end = month_range(month)
            messages = messages.filter(date__gte=start, date__lt=end)
        rows = messages.order_by("date", "pk").values_list("raw", "sender_address", "date").iterator(chunk_size=200)
        try:
            stream = open(output, "wb") if output else sys.stdout.buffer
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}") from None
        count = 0
        try:
            for raw, sender, date in rows:
                stream.write(mbox_entry(bytes(raw), sender, date))
                count += 1
        finally:
            if output:
                stream.close()
            else:
                stream.flush()
        self.stderr.write(f"{count:,} messages exported")
