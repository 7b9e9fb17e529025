"""The archive's pages: a list's months, a month's threads, a thread, a
message at its permalink, and its deletion by the list's owners.

Every page goes through archive.view_access.archive_page. Addresses are
obfuscated for readers who may not see them (archive.access.shows_addresses);
message text is always shown as text, never as HTML.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from api.permissions import can_manage_list
from archive import browsing
from archive.access import can_download_archive, shows_addresses
from archive.deletion import delete_message
from archive.download_views import attachment_url
from archive.models import ArchivedMessage, ListArchive
from archive.view_access import archive_page
from lists.models import MailingList
from members.owner_views import refuse

THREADS_PER_PAGE = 50


def render_archive(request: HttpRequest, mlist: MailingList, template: str, context: dict) -> HttpResponse:
    context = {
        "mlist": mlist,
        "addresses_shown": shows_addresses(request.user),
        "may_download": can_download_archive(request.user, mlist),
        **context,
    }
    return render(request, f"archive/{template}", context)


def find_message(mlist: MailingList, message_id_hash: str) -> ArchivedMessage:
    return get_object_or_404(
        ArchivedMessage.objects.select_related("thread", "parent").defer("raw", "parent__raw", "parent__body"),
        mailing_list=mlist,
        message_id_hash=message_id_hash,
    )


@require_GET
@archive_page
def index_page(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    archive = ListArchive.objects.filter(mailing_list=mlist).first()
    context = {"archive": archive, "months": browsing.archive_months(mlist)}
    return render_archive(request, mlist, "index.html", context)


@require_GET
@archive_page
def month_page(request: HttpRequest, mlist: MailingList, year: int, month: int) -> HttpResponse:
    try:
        start, end = browsing.month_span(year, month)
    except ValueError:
        raise Http404(_("No such month.")) from None
    page = Paginator(browsing.month_threads(mlist, start, end), THREADS_PER_PAGE).get_page(request.GET.get("page"))
    return render_archive(request, mlist, "month.html", {"start": start, "page": page})


@require_GET
@archive_page
def thread_page(request: HttpRequest, mlist: MailingList, message_id_hash: str) -> HttpResponse:
    """The thread of the message `message_id_hash` (its root's, in the links)."""
    thread = find_message(mlist, message_id_hash).thread
    context = {"thread": thread, "tree": browsing.thread_tree(thread), "selected": message_id_hash}
    return render_archive(request, mlist, "thread.html", context)


@require_GET
@archive_page
def message_page(request: HttpRequest, mlist: MailingList, message_id_hash: str) -> HttpResponse:
    message = find_message(mlist, message_id_hash)
    older, newer = browsing.neighbours(message)
    context = {
        "message": message,
        "recipients": browsing.recipients(ArchivedMessage.objects.values_list("raw", flat=True).get(pk=message.pk)),
        "attachments": [
            (part, attachment_url(mlist, message, part))
            for part in message.attachments.defer("content").order_by("counter")
        ],
        "older": older,
        "newer": newer,
        "reply_mailto": browsing.reply_mailto(mlist, message),
        "may_delete": can_manage_list(request.user, mlist),
    }
    return render_archive(request, mlist, "message.html", context)


@require_http_methods(["GET", "POST"])
@archive_page
def delete_page(request: HttpRequest, mlist: MailingList, message_id_hash: str) -> HttpResponse:
    """Owners and site admins: a page that asks, and the POST that deletes."""
    if not can_manage_list(request.user, mlist):
        return refuse(request, mlist)
    message = find_message(mlist, message_id_hash)
    if request.method == "GET":
        return render_archive(request, mlist, "delete.html", {"message": message})
    deleted = delete_message(message, deleted_by=request.user)
    if deleted is None:
        messages.error(request, _("The message was deleted already."))
        return redirect("archive-index", mlist.list_id)
    messages.success(request, _("The message is deleted from the archive."))
    if deleted.thread is None:
        return redirect("archive-index", mlist.list_id)
    return redirect("archive-thread", mlist.list_id, deleted.thread.root.message_id_hash)
