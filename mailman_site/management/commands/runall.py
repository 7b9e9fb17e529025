"""The whole list server in one process: web, LMTP, workers and the periodic
jobs. For a first try or a small site; a large one runs the same parts as
separate processes (runlmtp, runworkers, a WSGI server)."""

import os
import signal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mailman_site.bootstrap import ensure_site, ensure_site_admin


class Command(BaseCommand):
    help = "Migrate, create the first admin, and run web, LMTP, workers and periodic jobs in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
        parser.add_argument("--lmtp-host", default=settings.LMTP_HOST)
        parser.add_argument("--lmtp-port", type=int, default=settings.LMTP_PORT)
        parser.add_argument("--threads", type=int, default=8, help="Web server threads.")
        parser.add_argument("--worker-threads", type=int, default=8, help="Task worker threads.")
        parser.add_argument("--no-migrate", action="store_true", help="Skip applying migrations.")

    def handle(self, *args, **options):
        from waitress import create_server

        from mailman_site.broker import broker, load_actors
        from mailman_site.scheduler import start_in_thread
        from mailman_site.wsgi import application
        from messages.lmtp import LMTPServer

        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        ensure_site()
        admin = ensure_site_admin(
            os.environ.get("ADMIN_EMAIL", "admin@example.com"), os.environ.get("ADMIN_PASSWORD") or None
        )

        load_actors()
        worker = self.start_worker(broker, options["worker_threads"])
        lmtp = LMTPServer(options["lmtp_host"], options["lmtp_port"])
        lmtp.start()
        scheduler, stop_scheduler = start_in_thread()
        web = create_server(
            application, host=options["host"], port=options["port"], threads=options["threads"], ident="mailman-site"
        )
        self.print_banner(options, admin, lmtp.port)

        def shut_down(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, shut_down)
        web.print_listen("Serving on http://{}:{}")
        try:
            web.run()
        except KeyboardInterrupt:
            pass
        finally:
            web.close()
            lmtp.stop()
            stop_scheduler.set()
            worker.stop(timeout=10_000)
            scheduler.join(timeout=5)

    def start_worker(self, broker, threads: int):
        from dramatiq import Worker

        from mailman_site.broker import local_workers_started

        worker = Worker(broker, worker_threads=threads, worker_timeout=100)
        worker.start()
        local_workers_started()
        return worker

    def print_banner(self, options, admin, lmtp_port: int) -> None:
        base = f"http://{options['host']}:{options['port']}"
        broker = settings.BROKER_URL.split("://", 1)[0] if settings.BROKER_URL else "in-process"
        lines = [
            f"Web UI:        {base}/",
            f"Django admin:  {base}/admin/",
            f"API docs:      {base}/api/v3/docs/",
            f"LMTP:          {options['lmtp_host']}:{lmtp_port}",
            f"Database:      {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
            f"Task broker:   {broker}",
        ]
        if not admin.created:
            lines.append(f"Site admin:    {admin.email} (already set up)")
        else:
            lines.append(f"Site admin:    {admin.email}")
            if admin.generated_password:
                lines.append(f"Password:      {admin.generated_password}  (printed once; change it after logging in)")
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
