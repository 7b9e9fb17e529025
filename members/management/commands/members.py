"""manage.py members NAME@DOMAIN: a list's roster as a table, JSON or CSV."""

from django.core.management.base import BaseCommand

from lists.services import get_list
from mailman_site.cli import service_errors, write_csv, write_json_array, write_table
from members.models import Membership, Role

COLUMNS = ("email", "display_name", "role", "delivery_mode", "delivery_status")
FIELDS = ("address__email", "address__display_name", "role", "delivery_mode", "delivery_status")


class Command(BaseCommand):
    help = "Print a list's roster: email, display name, role, delivery mode and status."

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("--role", choices=Role.values, help="Only this role (default: all).")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="Print a JSON array.")
        output.add_argument("--csv", action="store_true", help="Print CSV with a header row.")

    def handle(self, *args, fqdn_listname, role, **options):
        with service_errors():
            mlist = get_list(fqdn_listname)
        memberships = Membership.objects.filter(mailing_list=mlist)
        if role:
            memberships = memberships.filter(role=role)
        # iterator(): rows are fetched in chunks and written as they come,
        # so a roster of 100,000 is never held in memory at once.
        rows = memberships.order_by("role", "address__email").values_list(*FIELDS).iterator(chunk_size=2000)
        if options["json"]:
            write_json_array(self.stdout, (dict(zip(COLUMNS, row, strict=True)) for row in rows))
        elif options["csv"]:
            write_csv(self.stdout, COLUMNS, rows)
        else:
            write_table(self.stdout, [column.replace("_", " ") for column in COLUMNS], rows)
