"""`manage.py runlmtp`: the LMTP receiver as a process of its own."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messages.lmtp import LMTPServer


class Command(BaseCommand):
    help = "Receive the site's list mail over LMTP from the MTA until SIGTERM or SIGINT."
    # The checks load every URL and view module (the admin, the API...),
    # about 28 MB the receiver never uses; `manage.py check` and the web
    # server still run them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.LMTP_HOST, help="Address to listen on (LMTP_HOST).")
        parser.add_argument("--port", type=int, default=settings.LMTP_PORT, help="Port to listen on (LMTP_PORT).")

    def handle(self, *args, host: str, port: int, **options):
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: stopping.set())
        server = LMTPServer(host, port)
        try:
            server.start()
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{port}: {error}") from None
        self.stdout.write(f"LMTP receiver listening on {host}:{server.port}; stop with SIGTERM or Ctrl-C")
        self.stdout.flush()
        try:
            # A timeout keeps the main thread where signal handlers run.
            while not stopping.wait(1.0):
                pass
        finally:
            server.stop()
        self.stdout.write("LMTP receiver stopped")
