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

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.translation import gettext as _

from api.permissions import visible_lists
from archive.access import can_download_archive, can_read_archive
from lists.models import MailingList
from members.owner_views import list_page


def refuse_file(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    """For what programs fetch: 404 or 403, never a login page."""
    if not visible_lists(request.user).filter(pk=mlist.pk).exists():
        raise Http404(_("No such list."))
    return HttpResponseForbidden(
        _("This is open to the list's members only."), content_type="text/plain; charset=utf-8"
    )


# Pages: whoever reads the archive; others are sent to log in or refused.
archive_page = list_page(can_read_archive)
# Feeds and attachments: whoever reads the archive.
archive_file = list_page(can_read_archive, refuse_file)
# mbox downloads: the list's members and those who run it.
members_file = list_page(can_download_archive, refuse_file)
