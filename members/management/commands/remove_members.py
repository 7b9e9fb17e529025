"""manage.py remove_members NAME@DOMAIN [FILE|-]: unsubscribe addresses in bulk."""

from django.core.management.base import BaseCommand, CommandError

from lists.services import get_list
from mailman_site.cli import (
    invalid_line_records,
    read_lines,
    report_invalid_lines,
    service_errors,
    standard_streams,
    write_json,
)
from members.models import Role
from members.services import bulk_unsubscribe


class Command(BaseCommand):
    help = (
        "Unsubscribe the addresses in FILE (or standard input), one a line, in the forms add_members"
        " reads. Any invalid line means nothing is removed, unless --skip-invalid."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("file", nargs="?", metavar="FILE", help="UTF-8 text; '-' or nothing reads standard input.")
        parser.add_argument("--role", choices=Role.values, default=Role.MEMBER)
        parser.add_argument("--skip-invalid", action="store_true", help="Remove the valid lines even if some are not.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, fqdn_listname, file, role, skip_invalid, **options):
        stdin, stderr = standard_streams(options)
        with service_errors():
            mlist = get_list(fqdn_listname)
            result = bulk_unsubscribe(mlist, read_lines(file, stdin, stderr), role=role, skip_invalid=skip_invalid)
        report_invalid_lines(self.stderr, result.invalid)
        written = skip_invalid or not result.invalid
        if options["json"]:
            write_json(
                self.stdout,
                {
                    "list": mlist.fqdn_listname,
                    "role": role,
                    "written": written,
                    "removed": len(result.removed),
                    "not_there": len(result.unchanged),
                    "invalid": len(result.invalid),
                    "invalid_lines": invalid_line_records(result.invalid),
                },
            )
        if not written:
            raise CommandError(
                f"{len(result.invalid)} invalid line(s); nothing was removed."
                " Correct them, or pass --skip-invalid to remove the valid ones."
            )
        if not options["json"]:
            self.stdout.write(
                f"Removed {len(result.removed)} from {mlist.fqdn_listname} as {role}; {len(result.unchanged)}"
                f" were not {role}s, {len(result.invalid)} invalid lines skipped.\n"
            )
