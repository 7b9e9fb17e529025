from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lists.mta import write_postfix_maps


class Command(BaseCommand):
    help = "Write the MTA's maps of list addresses (Postfix transport, relay recipients, relay domains)."

    def add_arguments(self, parser):
        parser.add_argument("--postfix", action="store_true", help="Write Postfix maps (the only kind so far).")
        parser.add_argument("--output-dir", default=settings.MTA_MAPS_DIR)
        parser.add_argument("--no-postmap", action="store_true", help="Do not run postmap on the written files.")

    def handle(self, *args, postfix, output_dir, no_postmap, **options):
        if not postfix:
            raise CommandError("Choose the MTA: --postfix")
        for path in write_postfix_maps(Path(output_dir), run_postmap=not no_postmap):
            self.stdout.write(f"wrote {path}")
