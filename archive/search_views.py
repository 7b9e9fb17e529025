"""The search pages: /search/ over every archive the reader may read, and
/lists/<list_id>/archive/search/ over one list's."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from archive.search import MAX_PAGE, SearchError, search
from archive.view_access import archive_page
from lists.models import MailingList


def site_search(request: HttpRequest) -> HttpResponse:
    return search_page(request, None)


@archive_page
def list_search(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    return search_page(request, mlist)


def search_page(request: HttpRequest, mlist: MailingList | None) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    context = {"mlist": mlist, "q": q, "results": None, "error": None}
    status = 200
    if q:
        try:
            context["results"] = search(request.user, q, mlist=mlist, page=page_number(request.GET.get("page")))
        except SearchError as exc:
            context["error"], status = str(exc), 400
    return render(request, "archive/search.html", context, status=status)


def page_number(value: str | None) -> int:
    if value is None or value == "":
        return 1
    if not value.isascii() or not value.isdigit() or len(value) > 4:
        raise SearchError(_("The page must be a number from 1 to %(max)d.") % {"max": MAX_PAGE})
    return int(value)
