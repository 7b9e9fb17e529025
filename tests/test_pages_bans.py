"""The list's bans page: plain addresses and ^patterns, added and lifted by owners."""

import pytest

from members.models import Ban
from members.services import ban, is_banned
from members.workflows import Status, request_subscription

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

PAGE = "/lists/ant.example.com/bans/"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def bans(mlist) -> list[str]:
    return list(Ban.objects.filter(mailing_list=mlist).values_list("email", flat=True))


def test_owner_bans_an_address(owner_client, mlist, smtp_sink):
    response = owner_client.post(PAGE, {"pattern": "  Spammer@Example.NET "})
    assert response.status_code == 302
    assert bans(mlist) == ["spammer@example.net"]
    assert "spammer@example.net" in owner_client.get(PAGE).content.decode()
    result = request_subscription(mlist, "spammer@example.net")
    assert result.status == Status.BANNED
    assert not smtp_sink.received


def test_owner_bans_a_pattern(owner_client, mlist):
    owner_client.post(PAGE, {"pattern": r"^.*@spam\.example$"})
    assert is_banned(mlist, "anyone@SPAM.example")
    assert not is_banned(mlist, "anyone@example.net")


def test_banning_twice_is_one_ban(owner_client, mlist):
    owner_client.post(PAGE, {"pattern": "spammer@example.net"})
    assert owner_client.post(PAGE, {"pattern": "SPAMMER@example.net"}).status_code == 302
    assert bans(mlist) == ["spammer@example.net"]


@pytest.mark.parametrize(
    "pattern",
    [
        "^(unclosed",
        "^[z-a]",
        "^a**",
        "not an address",
        "a@example.net\r\nBcc: x@example.net",
        "a@exa\x00mple.net",
        "^" + "a" * 300,
        "",
        "   ",
    ],
)
def test_a_bad_pattern_is_a_form_error(owner_client, mlist, pattern):
    response = owner_client.post(PAGE, {"pattern": pattern})
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert bans(mlist) == []


def test_patterns_are_shown_escaped(owner_client, mlist):
    owner_client.post(PAGE, {"pattern": "^<script>alert(1)</script>"})
    content = owner_client.get(PAGE).content.decode()
    assert "<script>alert(1)" not in content
    assert "^&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_owner_lifts_a_ban(owner_client, mlist):
    lifted = ban(mlist, "^.*@spam\\.example$")
    kept = ban(mlist, "kept@example.net")
    response = owner_client.post(f"{PAGE}{lifted.pk}/lift/")
    assert response.status_code == 302
    assert bans(mlist) == [kept.email]
    assert not is_banned(mlist, "x@spam.example")


def test_site_wide_bans_are_neither_shown_nor_lifted_here(owner_client, mlist):
    site_ban = ban(None, "^.*@everywhere\\.example$")
    assert "everywhere" not in owner_client.get(PAGE).content.decode()
    assert owner_client.post(f"{PAGE}{site_ban.pk}/lift/").status_code == 404
    assert Ban.objects.filter(pk=site_ban.pk).exists()


def test_lifting_is_a_post(owner_client, mlist):
    lifted = ban(mlist, "spammer@example.net")
    assert owner_client.get(f"{PAGE}{lifted.pk}/lift/").status_code == 405
    assert bans(mlist) == ["spammer@example.net"]
