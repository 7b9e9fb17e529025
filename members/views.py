"""Members' pages: subscribe and unsubscribe requests, confirmation links,
RFC 8058 one-click unsubscription."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from lists.views import find_list
from members.forms import AddressForm
from members.one_click import InvalidOneClickToken, read_token
from members.workflows import (
    Status,
    confirm,
    request_subscription,
    request_unsubscription,
    unsubscribe_by_one_click,
)
from messages.outgoing import SendError

MAIL_DOWN = _("We could not send you mail just now; nothing was changed. Please try again later.")


@csrf_exempt  # RFC 8058 section 3.2: the mailbox provider POSTs with no session or cookie.
@require_http_methods(["GET", "POST"])
def one_click_unsubscribe(request: HttpRequest, list_id: str, token: str) -> HttpResponse:
    """GET asks (link checkers and previews follow links: a GET changes
    nothing); POST unsubscribes at once and says the same whether or not the
    address was still subscribed, so repeating it is harmless."""
    mlist = find_list(list_id)
    try:
        email = read_token(mlist.list_id, token)
    except InvalidOneClickToken:
        return render(request, "members/one_click_invalid.html", {"mlist": mlist}, status=400)
    if request.method == "POST":
        unsubscribe_by_one_click(mlist, email)
        return render(request, "members/one_click_done.html", {"mlist": mlist, "email": email})
    return render(request, "members/one_click_ask.html", {"mlist": mlist, "email": email})


# What a requester is told, by public status: never whether the address was
# already subscribed, pending or banned (the workflow keeps that internal).
PUBLIC_MESSAGES = {
    Status.CONFIRMATION_SENT: _("Check your mailbox: we sent a message with a link to confirm."),
    Status.PENDING_APPROVAL: _("Your request now waits for the list owners' approval."),
    Status.SUBSCRIBED: _("You are subscribed."),
    Status.UNSUBSCRIBED: _("You are unsubscribed."),
    Status.RATE_LIMITED: _("Too many requests for now; please try again in an hour."),
    Status.INVALID_TOKEN: _("This confirmation link is not valid: it was used already, has expired or was cut short."),
}


@require_http_methods(["GET", "POST"])
def membership_form(request: HttpRequest, list_id: str, action: str) -> HttpResponse:
    """The subscribe and unsubscribe forms (the unsubscribe one is where the
    List-Unsubscribe URL of a non-personalized post leads)."""
    mlist = find_list(list_id)
    form = AddressForm(request.POST if request.method == "POST" else None)
    if not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(
            request, "members/request_form.html", {"mlist": mlist, "form": form, "action": action}, status=status
        )
    workflow = request_subscription if action == "subscribe" else request_unsubscription
    options = {"display_name": form.cleaned_data["display_name"]} if action == "subscribe" else {}
    try:
        result = workflow(mlist, form.cleaned_data["email"], via="web", client_ip=client_ip(request), **options)
    except SendError:
        return render(request, "members/outcome.html", {"mlist": mlist, "message": MAIL_DOWN}, status=503)
    status = 429 if result.public_status == Status.RATE_LIMITED else 200
    return render(
        request,
        "members/outcome.html",
        {"mlist": mlist, "message": PUBLIC_MESSAGES[result.public_status]},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def confirm_by_link(request: HttpRequest, list_id: str, token: str) -> HttpResponse:
    """GET asks (link checkers follow links: a GET changes nothing); POST confirms once."""
    mlist = find_list(list_id)
    if request.method == "GET":
        return render(request, "members/confirm.html", {"mlist": mlist})
    result = confirm(token, mlist=mlist)
    status = 400 if result.public_status == Status.INVALID_TOKEN else 200
    return render(
        request,
        "members/outcome.html",
        {"mlist": mlist, "message": PUBLIC_MESSAGES[result.public_status]},
        status=status,
    )


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR, not X-Forwarded-For: a header any client can set would let
    # it dodge the per-IP limit. Behind a proxy, set REMOTE_ADDR there.
    return request.META.get("REMOTE_ADDR", "")
