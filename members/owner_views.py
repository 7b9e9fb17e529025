"""A list's management pages: roster, subscription requests, bans,
invitations, mass subscription and unsubscription, welcome and goodbye
wording. Every change is a call to members.workflows or members.services.

Who may open what: api.permissions' role checks, as in the REST API;
members.owner_nav lists the same pairs for the menus. Anyone else is sent to log in, told there is no such list (one
they could not see anyway) or refused with a 403 that says nothing more.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from api.permissions import Caller, can_manage_list, can_moderate, can_read_roster, visible_lists
from lists.models import MailingList
from lists.views import find_list
from members import mail_templates, roster, workflows
from members.forms import BanForm, InviteForm, MassChangeForm, RejectForm, RosterSearchForm, TemplateForm
from members.models import Ban, SubscriptionRequest
from members.owner_nav import owner_links
from members.services import BannedAddress, BulkResult, InvalidAddress, InvalidBan, ban, unban
from members.workflows import RequestAlreadyDecided, Status
from messages.outgoing import SendError

ROSTER_PAGE_SIZE = 50
# Addresses of each kind a mass change's report lists; the counts are whole.
REPORT_LIMIT = 200

ListView = Callable[..., HttpResponse]


def refuse(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    """Send to log in; else 404 for a list the user cannot see at all, 403 for one they can."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not visible_lists(request.user).filter(pk=mlist.pk).exists():
        raise Http404(_("No such list."))
    return render(request, "members/owner/forbidden.html", {"mlist": mlist}, status=403)


def list_page(may_open: Callable, refusal: Callable = refuse) -> Callable[[ListView], ListView]:
    """The view gets the list named in the URL, once `may_open(user, mlist)`
    says yes; else `refusal(request, mlist)` answers."""

    def decorate(view: ListView) -> ListView:
        @wraps(view)
        def page(request: HttpRequest, list_id: str, **kwargs) -> HttpResponse:
            mlist = find_list(list_id)
            if not may_open(request.user, mlist):
                return refusal(request, mlist)
            return view(request, mlist, **kwargs)

        return page

    return decorate


def render_page(request: HttpRequest, mlist: MailingList, template: str, context: dict, status: int = 200):
    context = {"mlist": mlist, "owner_links": owner_links(request.user, mlist), **context}
    return render(request, f"members/owner/{template}", context, status=status)


@require_http_methods(["GET"])
def roster_page(request: HttpRequest, list_id: str) -> HttpResponse:
    """Owners, moderators and admins see everyone; others, where the list lets them, the shown members."""
    mlist = find_list(list_id)
    access = roster.roster_access(request.user, mlist)
    if access is roster.RosterAccess.NONE:
        return refuse(request, mlist)
    form = RosterSearchForm(request.GET)
    valid = form.is_valid()
    memberships = roster.roster(mlist, access, **form.filters()) if valid else roster.roster(mlist, access).none()
    page = Paginator(memberships, ROSTER_PAGE_SIZE).get_page(request.GET.get("page"))
    full = access is roster.RosterAccess.FULL
    context = {"form": form, "page": page, "full": full, "query": search_query(request) if valid else ""}
    return render_page(request, mlist, "roster.html", context, status=200 if valid else 400)


def search_query(request: HttpRequest) -> str:
    """The roster search of `request` as a query string, without the page number."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@require_http_methods(["GET"])
@list_page(can_read_roster)
def roster_export(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    form = RosterSearchForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("Invalid search."), status=400, content_type="text/plain; charset=utf-8")
    memberships = roster.roster(mlist, roster.RosterAccess.FULL, **form.filters())
    response = StreamingHttpResponse(roster.csv_lines(memberships), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{mlist.list_id}-roster.csv"'
    return response


@require_http_methods(["GET"])
@list_page(can_moderate)
def requests_page(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    context = {"requests": workflows.pending_requests(mlist), "reject_form": RejectForm()}
    return render_page(request, mlist, "requests.html", context)


@require_POST
@list_page(can_moderate)
def decide_request(request: HttpRequest, mlist: MailingList, pk: int) -> HttpResponse:
    """Approve, reject (with the reason, mailed to the person) or defer one request."""
    subscription_request = get_object_or_404(SubscriptionRequest, pk=pk, mailing_list=mlist)
    form = RejectForm(request.POST)
    decide = DECISIONS.get(request.POST.get("action", ""))
    if decide is None or not form.is_valid():
        context = {"requests": workflows.pending_requests(mlist), "reject_form": form}
        return render_page(request, mlist, "requests.html", context, status=400)
    email = {"email": subscription_request.email}
    try:
        messages.success(request, decide(subscription_request, request.user, form.cleaned_data["reason"]) % email)
    except RequestAlreadyDecided:
        messages.error(request, _("Someone decided on the request of %(email)s already.") % email)
    except BannedAddress:
        messages.error(request, _("%(email)s is banned from this list; the request stays pending.") % email)
    return redirect("list-requests", mlist.list_id)


def _approve(subscription_request: SubscriptionRequest, user: Caller, reason: str) -> str:
    result = workflows.approve_request(subscription_request, user)
    if result.status == Status.ALREADY_MEMBER:
        return _("%(email)s was a member already.")
    return _("%(email)s is now a member.")


def _reject(subscription_request: SubscriptionRequest, user: Caller, reason: str) -> str:
    workflows.reject_request(subscription_request, user, reason)
    return _("The request of %(email)s was rejected; they will be told.")


def _defer(subscription_request: SubscriptionRequest, user: Caller, reason: str) -> str:
    workflows.defer_request(subscription_request, user)
    return _("The request of %(email)s stays pending.")


DECISIONS = {"approve": _approve, "reject": _reject, "defer": _defer}


@require_http_methods(["GET", "POST"])
@list_page(can_manage_list)
def bans_page(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    form = BanForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            added = ban(mlist, form.cleaned_data["pattern"])
        except InvalidBan as exc:
            form.add_error("pattern", str(exc))
        else:
            messages.success(request, _("%(pattern)s is banned from this list.") % {"pattern": added.email})
            return redirect("list-bans", mlist.list_id)
    context = {"form": form, "bans": Ban.objects.filter(mailing_list=mlist).order_by("email")}
    return render_page(request, mlist, "bans.html", context, status=400 if form.is_bound else 200)


@require_POST
@list_page(can_manage_list)
def lift_ban(request: HttpRequest, mlist: MailingList, pk: int) -> HttpResponse:
    lifted = get_object_or_404(Ban, pk=pk, mailing_list=mlist)
    unban(mlist, lifted.email)
    messages.success(request, _("The ban of %(pattern)s is lifted.") % {"pattern": lifted.email})
    return redirect("list-bans", mlist.list_id)


INVITE_OUTCOMES = {
    Status.INVITED: gettext_lazy("An invitation went to %(email)s."),
    Status.ALREADY_MEMBER: gettext_lazy("%(email)s is a member already."),
    Status.BANNED: gettext_lazy("%(email)s may not be invited to this list."),
    Status.RATE_LIMITED: gettext_lazy("Too many mails went to %(email)s lately; try again in an hour."),
}


@require_http_methods(["GET", "POST"])
@list_page(can_manage_list)
def invite_page(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    form = InviteForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            email, name = form.cleaned_data["email"], form.cleaned_data["display_name"]
            result = workflows.invite(mlist, email, request.user, display_name=name)
        except InvalidAddress as exc:
            form.add_error("email", exc.reason)
        except SendError:
            context = {"form": form, "mail_down": True}
            return render_page(request, mlist, "invite.html", context, status=503)
        else:
            messages.info(request, INVITE_OUTCOMES[result.status] % {"email": result.email})
            return redirect("list-invite", mlist.list_id)
    return render_page(request, mlist, "invite.html", {"form": form}, status=400 if form.is_bound else 200)


# action -> (the workflow, its notice option, the label of that option)
MASS_CHANGES = {
    "subscribe": (workflows.mass_subscribe, "send_welcome", gettext_lazy("Send each new member the welcome mail")),
    "unsubscribe": (workflows.mass_unsubscribe, "send_goodbye", gettext_lazy("Send each one removed the goodbye mail")),
}


@require_http_methods(["GET", "POST"])
@list_page(can_manage_list)
def mass_change_page(request: HttpRequest, mlist: MailingList, action: str) -> HttpResponse:
    """Mass subscription or unsubscription of typed or uploaded addresses, with a report."""
    change, notice_option, notice_label = MASS_CHANGES[action]
    data = (request.POST, request.FILES) if request.method == "POST" else ()
    form = MassChangeForm(*data, notice_label=notice_label, with_csv=action == "subscribe")
    if not form.is_valid():
        context = {"form": form, "action": action}
        return render_page(request, mlist, "mass_change.html", context, status=400 if form.is_bound else 200)
    options = {notice_option: form.cleaned_data["send_notice"], "skip_invalid": form.cleaned_data["skip_invalid"]}
    report = bulk_report(change(mlist, form.cleaned_data["lines"], **options), options["skip_invalid"])
    if not report["nothing_written"]:
        # Done: a fresh form, so that the same addresses are not sent twice by mistake.
        form = MassChangeForm(notice_label=notice_label, with_csv=action == "subscribe")
    context = {"form": form, "action": action, "report": report}
    return render_page(request, mlist, "mass_change.html", context)


def bulk_report(result: BulkResult, skip_invalid: bool) -> dict:
    """What a mass change did, for the page: whole counts and the first addresses of each kind."""
    kinds = {"added": result.added, "removed": result.removed, "unchanged": result.unchanged, "banned": result.banned}
    report = {kind: (len(emails), emails[:REPORT_LIMIT]) for kind, emails in kinds.items()}
    invalid = [(number, roster.printable(text), reason) for number, text, reason in result.invalid[:REPORT_LIMIT]]
    report["invalid"] = (len(result.invalid), invalid)
    # bulk_subscribe and bulk_unsubscribe write nothing when a line is invalid, unless told to skip it.
    report["nothing_written"] = bool(result.invalid) and not skip_invalid
    return report


@require_http_methods(["GET"])
@list_page(can_manage_list)
def templates_page(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    return render_page(request, mlist, "templates.html", {"wordings": mail_templates.wordings(mlist)})


@require_http_methods(["GET", "POST"])
@list_page(can_manage_list)
def template_page(request: HttpRequest, mlist: MailingList, slug: str) -> HttpResponse:
    """Edit one mail's wording for this list; empty text returns to the site's or the built-in one."""
    if slug not in mail_templates.EDITABLE:
        raise Http404(_("No such template."))
    wording = mail_templates.wording(mlist, slug)
    form = TemplateForm(request.POST if request.method == "POST" else None, initial={"text": wording.text})
    if form.is_valid():
        if mail_templates.save_wording(mlist, wording, form.cleaned_data["text"]):
            messages.success(request, _("The %(mail)s is saved.") % {"mail": wording.label})
        return redirect("list-templates", mlist.list_id)
    context = {"form": form, "wording": wording}
    return render_page(request, mlist, "template_edit.html", context, status=400 if form.is_bound else 200)
