"""The hold queue's pages for a list's owners and moderators (and site
admins): the pending posts, one post with a safe preview, the decisions on
one post or on several at once, and the moderation log.

Access as on the other management pages (members.owner_views.list_page):
api.permissions.can_moderate; anyone else is sent to log in, told there is
no such list, or refused with a 403. Every decision is a POST, checked for
CSRF, and a call to messages.moderation.
"""

import re
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from api.permissions import can_moderate
from lists.models import MailingList
from members.owner_nav import owner_links
from members.owner_views import list_page
from messages import moderation
from messages.held_preview import preview
from messages.models import HeldMessage, HeldStatus
from messages.moderation_log import Via, action_label, log_of

PAGE_SIZE = 50
HELD_ID = re.compile(r"[0-9]{1,18}")
REASON_LENGTH = 1000


def held_posts(mlist: MailingList) -> QuerySet[HeldMessage]:
    """The held posts of `mlist` with their size, without loading the messages."""
    return HeldMessage.objects.filter(mailing_list=mlist).annotate(message_size=F("inbound__size"))


def pending_posts(mlist: MailingList) -> QuerySet[HeldMessage]:
    return held_posts(mlist).filter(status=HeldStatus.PENDING).order_by("held_at", "pk")


# action -> (what it does, what the page then says). Each takes the post, the user and a reason.
Decision = Callable[[HeldMessage, object, str], object]
DECISIONS: dict[str, tuple[Decision, str]] = {
    "approve": (
        lambda held, user, reason: moderation.approve(held, user, via=Via.WEB),
        gettext_lazy("The post of %(sender)s is approved and goes to the list."),
    ),
    "reject": (
        lambda held, user, reason: moderation.reject(held, user, reason, via=Via.WEB),
        gettext_lazy("The post of %(sender)s is rejected; they are told why."),
    ),
    "discard": (
        lambda held, user, reason: moderation.discard(held, user, via=Via.WEB),
        gettext_lazy("The post of %(sender)s is discarded."),
    ),
    "defer": (
        lambda held, user, reason: moderation.defer(held, user, via=Via.WEB),
        gettext_lazy("The post of %(sender)s stays in the queue."),
    ),
    "approve_accept": (
        lambda held, user, reason: moderation.approve_and_accept_sender(held, user, via=Via.WEB),
        gettext_lazy("The post of %(sender)s is approved, and their later posts are accepted."),
    ),
    "discard_ban": (
        lambda held, user, reason: moderation.discard_and_ban_sender(held, user, via=Via.WEB),
        gettext_lazy("The post of %(sender)s is discarded, and they are banned from this list."),
    ),
}
BULK_ACTIONS = ("approve", "reject", "discard", "defer")


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=[(name, name) for name in DECISIONS])
    reason = forms.CharField(
        label=gettext_lazy("Reason (sent to the sender when rejecting)"),
        max_length=REASON_LENGTH,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )


class HeldPostsField(forms.ModelMultipleChoiceField):
    """Held posts by id; an id past a bigint is refused before it reaches the database."""

    def _check_values(self, value):
        for ref in value:
            if not HELD_ID.fullmatch(str(ref)):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": ref}
                )
        return super()._check_values(value)


class BulkDecisionForm(DecisionForm):
    action = forms.ChoiceField(choices=[(name, name) for name in BULK_ACTIONS])
    held = HeldPostsField(queryset=HeldMessage.objects.none())

    def __init__(self, *args, mlist: MailingList, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["held"].queryset = pending_posts(mlist)


def render_page(request: HttpRequest, mlist: MailingList, template: str, context: dict, status: int = 200):
    context = {"mlist": mlist, "owner_links": owner_links(request.user, mlist), **context}
    return render(request, f"messages/moderation/{template}", context, status=status)


@require_GET
@list_page(can_moderate)
def held_queue(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    page = Paginator(pending_posts(mlist), PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(request, mlist, "queue.html", {"page": page, "form": DecisionForm()})


@require_GET
@list_page(can_moderate)
def held_detail(request: HttpRequest, mlist: MailingList, pk: int) -> HttpResponse:
    held = get_object_or_404(held_posts(mlist).select_related("inbound", "decided_by"), pk=pk)
    context = {"held": held, "preview": preview(held), "form": DecisionForm()}
    return render_page(request, mlist, "detail.html", context)


@require_POST
@list_page(can_moderate)
def decide_held(request: HttpRequest, mlist: MailingList, pk: int) -> HttpResponse:
    """One decision on one post, then back to the queue."""
    held = get_object_or_404(held_posts(mlist), pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        context = {"held": held, "preview": preview(held), "form": form}
        return render_page(request, mlist, "detail.html", context, status=400)
    apply(request, held, form.cleaned_data["action"], form.cleaned_data["reason"])
    return redirect("list-held", mlist.list_id)


@require_POST
@list_page(can_moderate)
def decide_bulk(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    """The same decision on each selected post; each is decided on its own."""
    form = BulkDecisionForm(request.POST, mlist=mlist)
    if not form.is_valid():
        page = Paginator(pending_posts(mlist), PAGE_SIZE).get_page(1)
        return render_page(request, mlist, "queue.html", {"page": page, "form": form}, status=400)
    for held in form.cleaned_data["held"]:
        apply(request, held, form.cleaned_data["action"], form.cleaned_data["reason"])
    return redirect("list-held", mlist.list_id)


def apply(request: HttpRequest, held: HeldMessage, action: str, reason: str) -> None:
    """Take the decision and say how it went; a post decided meanwhile says by whom."""
    decision, success = DECISIONS[action]
    sender = {"sender": held.sender or _("(unknown sender)")}
    try:
        decision(held, request.user, reason)
    except moderation.AlreadyDecided as exc:
        messages.error(request, _("%(error)s Someone decided on it first.") % {"error": exc})
    except moderation.ModerationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success % sender)


@require_GET
@list_page(can_moderate)
def moderation_log(request: HttpRequest, mlist: MailingList) -> HttpResponse:
    page = Paginator(log_of(mlist), PAGE_SIZE).get_page(request.GET.get("page"))
    for entry in page:
        entry.action_label = action_label(entry.action)
    return render_page(request, mlist, "log.html", {"page": page})
