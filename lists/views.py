"""The public pages of lists: the index of advertised lists and a list's page."""

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext

from api.permissions import can_moderate
from archive.access import can_read_archive
from lists.models import MailingList
from lists.services import UnknownList, get_list
from members.forms import AddressForm
from members.owner_nav import owner_links
from members.roster import RosterAccess, roster_access
from messages.moderation import pending_counts

# The longest list name (see lists.services.LIST_NAME) plus the dot after it.
MAX_NAME_AND_DOT = 65


def list_index(request: HttpRequest) -> HttpResponse:
    lists = (
        MailingList.objects.filter(advertised=True).select_related("domain").order_by("domain__mail_host", "list_name")
    )
    return render(request, "lists/index.html", {"lists": lists})


def list_info(request: HttpRequest, identifier: str) -> HttpResponse:
    mlist = find_list(identifier)
    context = {
        # What waits for the list's moderators, for them only.
        "pending": pending_counts(mlist) if can_moderate(request.user, mlist) else None,
        "owner_links": owner_links(request.user, mlist),
        "roster_shown": roster_access(request.user, mlist) is not RosterAccess.NONE,
        "archive_readable": can_read_archive(request.user, mlist),
        "mlist": mlist,
        "join_address": mlist.subaddress("join"),
        "owner_address": mlist.subaddress("owner"),
        "subscribe_form": AddressForm(auto_id="subscribe_%s"),
        "unsubscribe_form": AddressForm(auto_id="unsubscribe_%s"),
    }
    return render(request, "lists/list_info.html", context)


def find_list(identifier: str) -> MailingList:
    """The list named by its posting address (ant@example.com) or its RFC 2919
    list-id (ant.example.com); Http404 when there is none."""
    if "@" in identifier:
        try:
            return get_list(identifier)
        except UnknownList:
            raise Http404(gettext("No such list.")) from None
    # A list name may hold dots itself, so any dot may be the one before the
    # domain; only those within a list name's length can be.
    identifier = identifier.lower()
    candidates = Q(pk__in=[])
    for position, char in enumerate(identifier[:MAX_NAME_AND_DOT]):
        if char == ".":
            candidates |= Q(list_name=identifier[:position], domain__mail_host=identifier[position + 1 :])
    mlist = MailingList.objects.select_related("domain").filter(candidates).first()
    if mlist is None:
        raise Http404(gettext("No such list."))
    return mlist
