"""The door of every archive route: the list named in the URL, and
archive.access.can_read_archive asked before the view runs.

Pages answer as the list's other pages do (members.owner_views.refuse):
anonymous readers of a private archive are sent to log in, a list they
could not see at all is a 404, anyone else gets a 403 page. Feeds,
attachments and mbox downloads are fetched by programs that cannot log in:
they answer a plain 404 for a list the caller cannot see and a plain 403
otherwise, as HyperKitty does. mbox downloads are for the list's members
(archive.access.can_download_archive), as the archive's raw addresses are in them.
"""

from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.translation import gettext as _

from api.permissions import visible_lists
from archive.access import can_download_archive, can_read_archive
from lists.models import MailingList
from lists.views import find_list
from members.owner_views import refuse

ArchiveView = Callable[..., HttpResponse]


def archive_page(view: ArchiveView) -> ArchiveView:
    """The view gets the list, once its reader may read the archive."""

    @wraps(view)
    def page(request: HttpRequest, list_id: str, **kwargs) -> HttpResponse:
        mlist = find_list(list_id)
        if not can_read_archive(request.user, mlist):
            return refuse(request, mlist)
        return view(request, mlist, **kwargs)

    return page


def file_route(may_read: Callable) -> Callable[[ArchiveView], ArchiveView]:
    """As archive_page, for what programs fetch: 404 or 403, never a login page."""

    def decorate(view: ArchiveView) -> ArchiveView:
        @wraps(view)
        def download(request: HttpRequest, list_id: str, **kwargs) -> HttpResponse:
            mlist = find_list(list_id)
            if not may_read(request.user, mlist):
                return refuse_file(request, mlist)
            return view(request, mlist, **kwargs)

        return download

    return decorate


# Feeds and attachments: whoever reads the archive.
archive_file = file_route(can_read_archive)
# mbox downloads: the list's members and those who run it.
members_file = file_route(can_download_archive)


def refuse_file(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    if not visible_lists(request.user).filter(pk=mlist.pk).exists():
        raise Http404(_("No such list."))
    return HttpResponseForbidden(
        _("This is open to the list's members only."), content_type="text/plain; charset=utf-8"
    )
