"""Members' pages: RFC 8058 one-click unsubscription."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from lists.views import find_list
from members.one_click import InvalidOneClickToken, read_token
from members.services import NotSubscribed, unsubscribe


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
        try:
            unsubscribe(mlist, email)
        except NotSubscribed:
            pass
        return render(request, "members/one_click_done.html", {"mlist": mlist, "email": email})
    return render(request, "members/one_click_ask.html", {"mlist": mlist, "email": email})
