"""manage.py sweep: re-send the broker messages of lost work, once or in a loop."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from messages.sweeper import sweep


class Command(BaseCommand):
    help = "Re-send broker messages for delivery batches and inbound messages whose message was lost."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until SIGTERM or SIGINT.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.SWEEP_INTERVAL,
            help="Seconds between passes with --loop (default: SWEEP_INTERVAL).",
        )

    def handle(self, *args, loop: bool, interval: float, **options):
        stop = threading.Event()
        if loop:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        while True:
            report = sweep()
            self.stdout.write(
                f"re-sent {report.batches} delivery batch(es), {report.inbound} inbound message(s),"
                f" {report.archive} post(s) to archive, {report.index} archived message(s) to index"
            )
            self.stdout.flush()
            if not loop or stop.wait(interval):
                break
            close_old_connections()
