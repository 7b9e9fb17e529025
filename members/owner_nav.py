"""Who may open which of a list's management pages, and the links to those
a person may open.

The role checks are api.permissions', so a page and the REST API agree:
owners and site admins run the list; moderators also read the roster and
decide on subscription requests, as Mailman lets them.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from api.permissions import Caller, can_manage_list, can_moderate, can_read_roster
from lists.models import MailingList

Check = Callable[[Caller, MailingList], bool]


@dataclass(frozen=True)
class OwnerPage:
    url_name: str
    label: str | Promise
    may_open: Check


PAGES = (
    OwnerPage("list-roster", _("Roster"), can_read_roster),
    OwnerPage("list-requests", _("Subscription requests"), can_moderate),
    OwnerPage("list-held", _("Held posts"), can_moderate),
    OwnerPage("list-moderation-log", _("Moderation log"), can_moderate),
    OwnerPage("list-bans", _("Bans"), can_manage_list),
    OwnerPage("list-invite", _("Invite"), can_manage_list),
    OwnerPage("list-mass-subscribe", _("Mass subscribe"), can_manage_list),
    OwnerPage("list-mass-unsubscribe", _("Mass unsubscribe"), can_manage_list),
    OwnerPage("list-templates", _("Mail wording"), can_manage_list),
    OwnerPage("list-settings-moderation", _("Moderation and filters"), can_manage_list),
    OwnerPage("list-settings-filters", _("Header and body filters"), can_manage_list),
)


def owner_links(user: Caller, mlist: MailingList) -> list[tuple[str, str | Promise]]:
    """(url, label) of the management pages of `mlist` that `user` may open."""
    if not user.is_authenticated:
        return []
    allowed = {check: check(user, mlist) for check in {page.may_open for page in PAGES}}
    return [(reverse(page.url_name, args=[mlist.list_id]), page.label) for page in PAGES if allowed[page.may_open]]
