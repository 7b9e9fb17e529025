"""manage.py create_list NAME@DOMAIN: create a mailing list and say what was created."""

from django.core.management.base import BaseCommand, CommandError

from lists.models import Domain
from lists.services import UnknownDomain, create_list, split_listname
from mailman_site.cli import printable, service_errors, write_json
from members.models import Role


class Command(BaseCommand):
    help = "Create a mailing list with Mailman's defaults, optionally its domain and owners."

    def add_arguments(self, parser):
        parser.add_argument("fqdn_listname", metavar="NAME@DOMAIN")
        parser.add_argument("--owner", action="append", default=[], metavar="EMAIL", help="May be repeated.")
        parser.add_argument("--create-domain", action="store_true", help="Create the domain if it does not exist.")
        parser.add_argument("--display-name")
        parser.add_argument("--description")
        parser.add_argument("--not-advertised", action="store_true", help="Leave the list out of public indexes.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, fqdn_listname, owner, create_domain, display_name, description, not_advertised, **options):
        settings = {"advertised": not not_advertised}
        if display_name is not None:
            settings["display_name"] = display_name
        if description is not None:
            settings["description"] = description
        with service_errors():
            host = split_listname(fqdn_listname)[1]
            # Only to report it: the service decides whether to create the domain.
            domain_is_new = not Domain.objects.filter(mail_host=host).exists()
            try:
                mlist = create_list(fqdn_listname, owners=owner, create_domain_if_missing=create_domain, **settings)
            except UnknownDomain as exc:
                raise CommandError(f"{exc} (pass --create-domain to create it)") from None
        owners = list(
            mlist.memberships.filter(role=Role.OWNER)
            .order_by("address__email")
            .values_list("address__email", flat=True)
        )
        report = {
            "list": mlist.fqdn_listname,
            "display_name": mlist.display_name,
            "description": mlist.description,
            "advertised": mlist.advertised,
            "owners": owners,
            "domain_created": domain_is_new,
        }
        if options["json"]:
            write_json(self.stdout, report)
            return
        lines = [f"Created list {mlist.fqdn_listname}"]
        if domain_is_new:
            lines.append(f"Created domain {mlist.domain.mail_host}")
        lines += [
            f"  display name: {printable(mlist.display_name)}",
            f"  description:  {printable(mlist.description)}",
            f"  advertised:   {'yes' if mlist.advertised else 'no'}",
            f"  owners:       {', '.join(owners) or '(none)'}",
        ]
        self.stdout.write("\n".join(lines) + "\n")
