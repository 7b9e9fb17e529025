"""RFC 8058 one-click unsubscription: POST unsubscribes at once, GET only asks."""

from urllib.parse import urlsplit

from django.test import Client
from django.urls import resolve

from members.models import Membership
from members.one_click import make_token
from members.services import subscribe


def url(list_id: str, token: str) -> str:
    return f"/lists/{list_id}/unsubscribe/one-click/{token}/"


def is_member(mlist, email: str) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=email, role="member").exists()


def test_one_click_post_unsubscribes_without_login_or_csrf_token(mlist):
    subscribe(mlist, "ann@example.org")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        url("ant.example.com", make_token("ant.example.com", "ann@example.org")),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert not is_member(mlist, "ann@example.org")


def test_repeating_the_post_is_harmless_and_answers_the_same(mlist, client):
    subscribe(mlist, "ann@example.org")
    target = url("ant.example.com", make_token("ant.example.com", "ann@example.org"))
    first = client.post(target, {"List-Unsubscribe": "One-Click"})
    second = client.post(target, {"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


def test_get_only_asks(mlist, client):
    subscribe(mlist, "ann@example.org")
    response = client.get(url("ant.example.com", make_token("ant.example.com", "ann@example.org")))
    assert response.status_code == 200
    assert b'<form method="post">' in response.content
    assert is_member(mlist, "ann@example.org")


def test_tampered_or_other_list_tokens_change_nothing(mlist, domain, client):
    from lists.services import create_list

    create_list("bee@example.com")
    subscribe(mlist, "ann@example.org")
    token = make_token("bee.example.com", "ann@example.org")
    assert client.post(url("ant.example.com", token)).status_code == 400
    assert client.post(url("ant.example.com", token[:-2] + "xx")).status_code == 400
    assert is_member(mlist, "ann@example.org")


def test_unknown_list_is_404(db, client):
    assert client.post(url("nope.example.com", "x")).status_code == 404


def test_the_url_in_personalized_posts_is_this_endpoint(mlist, settings):
    from members.one_click import one_click_url

    settings.SITE_URL = "https://lists.example.com"
    link = urlsplit(one_click_url(mlist.list_id, "ann@example.org"))
    assert (link.scheme, link.netloc) == ("https", "lists.example.com")
    assert resolve(link.path).url_name == "one-click-unsubscribe"
