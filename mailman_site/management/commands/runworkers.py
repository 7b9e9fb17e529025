"""Dramatiq worker processes for a site with a real broker (BROKER_URL)."""

import os
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run Dramatiq worker processes (and, with --scheduler, the periodic jobs) against BROKER_URL."

    def add_arguments(self, parser):
        parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--queues", nargs="*", help="Only these queues (default: all).")
        parser.add_argument("--scheduler", action="store_true", help="Also run the periodic jobs (the sweeper).")

    def handle(self, *args, processes, threads, queues, scheduler, **options):
        if not settings.BROKER_URL:
            raise CommandError(
                "BROKER_URL is not set: the in-process broker runs inside `manage.py runall`. "
                "Set BROKER_URL=redis://... or amqp://... to run separate workers."
            )
        argv = [sys.executable, "-m", "dramatiq", "mailman_site.workers"]
        argv += ["--processes", str(processes), "--threads", str(threads), "--skip-logging"]
        if queues:
            argv += ["--queues", *queues]
        if scheduler:
            argv += ["--fork-function", "mailman_site.scheduler:run_forever"]
        broker_host = urlsplit(settings.BROKER_URL)
        self.stdout.write(
            f"Starting {processes} worker processes x {threads} threads on "
            f"{broker_host.scheme}://{broker_host.hostname}:{broker_host.port or ''}"
        )
        self.stdout.flush()
        # exec: the dramatiq master takes our PID, so signals reach it directly.
        os.execv(sys.executable, argv)  # noqa: S606  fixed argv, no shell
