"""manage.py lists: the mailing lists, as a table or JSON."""

from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from lists.models import MailingList
from lists.services import get_domain
from mailman_site.cli import service_errors, write_json_array, write_table
from members.models import Role


class Command(BaseCommand):
    help = "List the mailing lists with their member counts."

    def add_arguments(self, parser):
        parser.add_argument("--domain", metavar="MAIL_HOST", help="Only the lists of this domain.")
        parser.add_argument("--advertised", action="store_true", help="Only advertised lists.")
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args, domain, advertised, **options):
        # Explicit order: Meta.ordering does not apply to aggregating queries.
        mlists = (
            MailingList.objects.select_related("domain")
            .annotate(members=Count("memberships", filter=Q(memberships__role=Role.MEMBER)))
            .order_by("domain__mail_host", "list_name")
        )
        if domain:
            with service_errors():
                mlists = mlists.filter(domain=get_domain(domain))
        if advertised:
            mlists = mlists.filter(advertised=True)
        if options["json"]:
            write_json_array(
                self.stdout,
                (
                    {
                        "list": mlist.fqdn_listname,
                        "display_name": mlist.display_name,
                        "members": mlist.members,
                        "advertised": mlist.advertised,
                    }
                    for mlist in mlists
                ),
            )
            return
        rows = [
            (mlist.fqdn_listname, mlist.display_name, mlist.members, "yes" if mlist.advertised else "no")
            for mlist in mlists
        ]
        if not rows:
            self.stdout.write("No lists.\n")
            return
        write_table(self.stdout, ("list", "display name", "members", "advertised"), rows)
