"""My subscriptions: a signed-in person's memberships across all lists and
all their verified addresses, their delivery and preferences, and leaving
with one button. The rules are members.self_service's."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from members.forms import PreferencesForm
from members.models import Role
from members.self_service import leave, own_memberships, unverified_addresses, update_own_membership
from members.services import InvalidMembershipChange
from members.views import client_ip

MANAGING_ROLES = (Role.OWNER, Role.MODERATOR)


@require_GET
@login_required
def my_subscriptions(request: HttpRequest) -> HttpResponse:
    return render_subscriptions(request)


@require_POST
@login_required
def update_preferences(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(own_memberships(request.user), pk=pk)
    form = PreferencesForm(request.POST, membership=membership)
    if form.is_valid():
        try:
            update_own_membership(membership, **form.cleaned_data)
        except InvalidMembershipChange as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Your choices for %(list)s are saved.") % {"list": membership.mailing_list})
            return redirect(reverse("my-subscriptions") + f"#membership-{membership.pk}")
    return render_subscriptions(request, bound=form, status=400)


@require_POST
@login_required
def leave_list(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(own_memberships(request.user), pk=pk)
    leave(membership, client_ip(request))
    messages.success(
        request,
        _("%(email)s has left %(list)s.") % {"email": membership.address.email, "list": membership.mailing_list},
    )
    return redirect("my-subscriptions")


def render_subscriptions(request: HttpRequest, bound: PreferencesForm | None = None, status: int = 200):
    """The page, with `bound` (a form that failed) in place of its membership's fresh form."""
    entries = [
        (
            membership,
            bound if bound and bound.membership.pk == membership.pk else PreferencesForm(membership=membership),
        )
        for membership in own_memberships(request.user)
    ]
    context = {
        "entries": entries,
        "managed": own_memberships(request.user, roles=MANAGING_ROLES),
        "unverified": unverified_addresses(request.user),
    }
    return render(request, "members/my_subscriptions.html", context, status=status)
