"""A list's settings pages for its owners and the site's admins:
moderation and content filtering, and the header and body filters.

Access as on the other management pages (members.owner_views.list_page):
api.permissions.can_manage_list, as Mailman lets only owners change a
list's settings; moderators are refused like members. Every change is a
call to lists.services, through the forms of lists.settings_forms.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from api.permissions import can_manage_list
from lists.models import MailingList
from lists.settings_forms import ContentFilterFormSet, ModerationSettingsForm
from members.owner_nav import owner_links
from members.owner_views import list_page


def render_page(request: HttpRequest, mlist: MailingList, template: str, context: dict, status: int = 200):
    context = {"mlist": mlist, "owner_links": owner_links(request.user, mlist), **context}
    return render(request, f"lists/settings/{template}", context, status=status)


@require_http_methods(["GET", "POST"])
@list_page(can_manage_list)
def moderation_settings(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    form = ModerationSettingsForm(request.POST if request.method == "POST" else None, mlist=mlist)
    if form.is_valid():
        changed = form.save()
        if not form.errors:
            if changed:
                messages.success(request, _("The list's moderation and filter settings are saved."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect("list-settings-moderation", mlist.list_id)
    context = {"form": form, "has_password": bool(mlist.moderator_password)}
    return render_page(request, mlist, "moderation.html", context, status=400 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
@list_page(can_manage_list)
def content_filters(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    formset = ContentFilterFormSet(request.POST if request.method == "POST" else None, mlist=mlist)
    if formset.is_bound and not formset.management_form.is_valid():
        # Without its counts the posted rows cannot be read: start again from the saved filters.
        messages.error(request, _("The form was incomplete; nothing was changed. Please try again."))
        return render_page(request, mlist, "filters.html", {"formset": ContentFilterFormSet(mlist=mlist)}, 400)
    if formset.is_valid() and formset.save():
        messages.success(request, _("The list's header and body filters are saved."))
        return redirect("list-settings-filters", mlist.list_id)
    return render_page(request, mlist, "filters.html", {"formset": formset}, status=400 if formset.is_bound else 200)
