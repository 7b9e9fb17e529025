"""The whole list server in one process, on embedded defaults."""

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mailman_site.bootstrap import ensure_site, ensure_site_admin


class Command(BaseCommand):
    help = "Migrate, create the first admin, and run the web server (and, later, LMTP and workers) in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--no-migrate", action="store_true", help="Skip applying migrations.")

    def handle(self, *args, host, port, threads, no_migrate, **options):
        from waitress import serve

        from mailman_site.wsgi import application

        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        ensure_site()
        admin = ensure_site_admin(
            os.environ.get("ADMIN_EMAIL", "admin@example.com"), os.environ.get("ADMIN_PASSWORD") or None
        )
        base = f"http://{host}:{port}"
        lines = [
            f"Web UI:        {base}/",
            f"Django admin:  {base}/admin/",
            f"API docs:      {base}/api/v3/docs/",
            f"Database:      {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
        ]
        if admin.created:
            lines.append(f"Site admin:    {admin.email}")
            if admin.generated_password:
                lines.append(f"Password:      {admin.generated_password}  (printed once; change it after logging in)")
        else:
            lines.append(f"Site admin:    {admin.email} (already set up)")
        self.stdout.write("\n".join(lines), ending="\n")
        self.stdout.flush()
        serve(application, host=host, port=port, threads=threads, ident="mailman-site")
