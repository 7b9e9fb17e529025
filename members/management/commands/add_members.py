"""manage.py add_members NAME@DOMAIN [FILE|-]: subscribe addresses in bulk."""

from argparse import BooleanOptionalAction

from django.core.management.base import BaseCommand, CommandError

from lists.services import get_list
from mailman_site.cli import (
    PROGRESS_THRESHOLD,
    invalid_line_records,
    progress_bar,
    read_lines,
    report_invalid_lines,
    service_errors,
    standard_streams,
    write_json,
)
from members.models import Role
from members.services import bulk_subscribe


class Command(BaseCommand):
    help = (
        "Subscribe the addresses in FILE (or standard input), one a line: 'a@b', 'a@b Full Name' or"
        " 'Full Name <a@b>'. Blank lines and # comments are ignored. Any invalid line means nothing"
        " is added, unless --skip-invalid."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("file", nargs="?", metavar="FILE", help="UTF-8 text; '-' or nothing reads standard input.")
        parser.add_argument("--role", choices=Role.values, default=Role.MEMBER)
        parser.add_argument("--skip-invalid", action="store_true", help="Add the valid lines even if some are not.")
        parser.add_argument(
            "--progress",
            action=BooleanOptionalAction,
            help=f"Show or hide the progress bar (default: shown for over {PROGRESS_THRESHOLD:,} lines on a terminal).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, fqdn_listname, file, role, skip_invalid, progress, **options):
        stdin, stderr = standard_streams(options)
        with service_errors():
            mlist = get_list(fqdn_listname)
            lines = read_lines(file, stdin, stderr)
            with progress_bar(len(lines), stderr, force=progress) as advance:
                result = bulk_subscribe(mlist, lines, role=role, skip_invalid=skip_invalid, progress=advance)
        report_invalid_lines(self.stderr, result.invalid)
        for email in result.banned:
            self.stderr.write(f"{email}: banned from {mlist.fqdn_listname}, not added\n")
        written = skip_invalid or not result.invalid
        if options["json"]:
            write_json(
                self.stdout,
                {
                    "list": mlist.fqdn_listname,
                    "role": role,
                    "written": written,
                    "added": len(result.added),
                    "already_there": len(result.unchanged),
                    "banned": len(result.banned),
                    "invalid": len(result.invalid),
                    "banned_addresses": result.banned,
                    "invalid_lines": invalid_line_records(result.invalid),
                },
            )
        if not written:
            raise CommandError(
                f"{len(result.invalid)} invalid line(s); nothing was added."
                " Correct them, or pass --skip-invalid to add the valid ones."
            )
        if not options["json"]:
            self.stdout.write(
                f"Added {len(result.added)} to {mlist.fqdn_listname} as {role}; {len(result.unchanged)} already"
                f" there or repeated, {len(result.banned)} banned, {len(result.invalid)} invalid lines skipped.\n"
            )
