"""manage.py delete_list NAME@DOMAIN: delete a list, its memberships and bans."""

from typing import IO

from django.core.management.base import BaseCommand, CommandError

from lists.services import delete_list, get_list
from mailman_site.cli import service_errors, standard_streams


class Command(BaseCommand):
    help = "Delete a mailing list with its memberships and bans. Asks for the list name unless --yes."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, fqdn_listname, yes, **options):
        stdin, stderr = standard_streams(options)
        with service_errors():
            mlist = get_list(fqdn_listname)
            name = mlist.fqdn_listname
            members = mlist.memberships.count()
            if not yes:
                self.confirm(name, members, stdin, stderr)
            delete_list(mlist)
        self.stdout.write(f"Deleted list {name} and its {memberships(members)}.\n")

    def confirm(self, name: str, members: int, stdin: IO, stderr: IO) -> None:
        """Return only when the person at the terminal typed the list's name."""
        # Without a terminal nobody can answer: a script must say --yes.
        if not stdin.isatty():
            raise CommandError(f"Not deleting {name}: no terminal to confirm on; pass --yes to delete without asking.")
        stderr.write(f"This deletes {name} and its {memberships(members)}. Type {name} to confirm: ")
        stderr.flush()
        try:
            answer = stdin.readline()
        except KeyboardInterrupt:
            answer = ""
        if answer.strip().lower() != name:
            raise CommandError(f"Not deleting {name}: the name typed did not match.")


def memberships(count: int) -> str:
    return f"{count} membership" if count == 1 else f"{count} memberships"
