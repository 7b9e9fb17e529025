"""RFC 8058 one-click tokens: bound to the list and the address, and tamper-evident."""

import pytest

from members.one_click import InvalidOneClickToken, make_token, one_click_url, read_token


def test_token_names_the_member():
    token = make_token("ant.example.com", "Someone+tag@Example.org")
    assert read_token("ant.example.com", token) == "Someone+tag@Example.org"


def test_token_is_url_safe():
    token = make_token("ant.example.com", "we/ird?#%@example.org")
    assert all(c.isalnum() or c in "-_:" for c in token)


def test_tampered_token_is_refused():
    token = make_token("ant.example.com", "a@example.org")
    forged = make_token("ant.example.com", "b@example.org").split(":")[0] + ":" + token.split(":")[1]
    with pytest.raises(InvalidOneClickToken):
        read_token("ant.example.com", forged)
    with pytest.raises(InvalidOneClickToken):
        read_token("ant.example.com", token[:-1])


def test_token_for_another_list_is_refused():
    token = make_token("ant.example.com", "a@example.org")
    with pytest.raises(InvalidOneClickToken, match=r"bee\.example\.com"):
        read_token("bee.example.com", token)


def test_url_points_at_the_list_on_the_site(settings):
    settings.SITE_URL = "https://lists.example.com"
    url = one_click_url("ant.example.com", "a@example.org")
    assert url.startswith("https://lists.example.com/lists/ant.example.com/unsubscribe/one-click/")
    assert url.endswith("/")
