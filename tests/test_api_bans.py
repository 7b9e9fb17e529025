"""/lists/{list_id}/bans/ and /bans/: bans per list for its owners, site-wide
for site admins; nobody else sees a ban's pattern."""

import pytest

from lists.services import create_list
from members.models import Ban
from members.services import ban, is_banned
from tests.api_callers import API, client_for, key_client, make_moderator

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

BANS = f"{API}/lists/ant.example.com/bans/"
SITE_BANS = f"{API}/bans/"
PATTERN = r"^.*@spam\.example$"


@pytest.fixture
def bans(mlist, domain) -> dict[str, Ban]:
    """A ban on this list, one on another list and one site-wide."""
    return {
        "list": ban(mlist, PATTERN),
        "other": ban(create_list("bee@example.com"), "eve@example.net"),
        "site": ban(None, "mallory@example.net"),
    }


@pytest.mark.parametrize("role", ["owner", "site_admin"])
def test_owners_and_site_admins_see_only_the_lists_own_bans(request, role, bans):
    response = client_for(request.getfixturevalue(role)).get(BANS)
    assert response.status_code == 200
    assert [(row["email"], row["is_pattern"], row["list_id"]) for row in response.json()["results"]] == [
        (PATTERN, True, "ant.example.com")
    ]


@pytest.mark.parametrize("role", ["member", "stranger"])
def test_moderators_members_and_strangers_never_see_a_pattern(request, mlist, role, bans):
    callers = [make_moderator(mlist), request.getfixturevalue(role)]
    for caller in callers:
        client = client_for(caller)
        for response in (client.get(BANS), client.get(f"{BANS}{bans['list'].pk}/"), client.get(SITE_BANS)):
            assert response.status_code == 403
            assert "spam" not in response.content.decode()
        assert client.post(BANS, {"email": "x@example.net"}).status_code == 403
        assert client.delete(f"{BANS}{bans['list'].pk}/").status_code == 403
    assert Ban.objects.count() == 3


def test_anonymous_callers_get_401(bans):
    for path in (BANS, SITE_BANS, f"{SITE_BANS}{bans['site'].pk}/"):
        assert client_for().get(path).status_code == 401


def test_a_hidden_lists_bans_are_not_found_by_strangers(stranger, domain):
    create_list("secret@example.com", advertised=False)
    assert client_for(stranger).get(f"{API}/lists/secret.example.com/bans/").status_code == 404


def test_owner_bans_an_address_which_then_cannot_subscribe(owner, mlist):
    response = client_for(owner).post(BANS, {"email": "Eve <Eve@Example.NET>"})
    assert response.status_code == 201, response.json()
    assert (response.json()["email"], response.json()["is_pattern"]) == ("eve@example.net", False)
    assert is_banned(mlist, "eve@example.net")
    refused = client_for(owner).post(f"{API}/lists/ant.example.com/members/", {"email": "eve@example.net"})
    assert refused.status_code == 400
    assert "may not subscribe" in refused.json()["message"]


def test_owner_bans_a_pattern(owner, mlist):
    response = client_for(owner).post(BANS, {"email": PATTERN})
    assert response.status_code == 201
    assert response.json()["is_pattern"]
    assert is_banned(mlist, "anyone@SPAM.example")
    assert not is_banned(mlist, "anyone@example.net")


def test_banning_twice_answers_200_with_the_same_ban(owner, mlist):
    first = client_for(owner).post(BANS, {"email": "eve@example.net"})
    again = client_for(owner).post(BANS, {"email": "EVE@example.net"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Ban.objects.count() == 1


def test_owner_lifts_a_ban(owner, mlist, bans):
    response = client_for(owner).delete(f"{BANS}{bans['list'].pk}/")
    assert response.status_code == 204
    assert not is_banned(mlist, "x@spam.example")


def test_bans_of_other_lists_and_of_the_site_are_not_found_under_this_list(owner, site_admin, bans):
    for client in (client_for(owner), client_for(site_admin)):
        for other in (bans["other"], bans["site"]):
            assert client.get(f"{BANS}{other.pk}/").status_code == 404
            assert client.delete(f"{BANS}{other.pk}/").status_code == 404
    assert Ban.objects.count() == 3


def test_site_admin_manages_site_wide_bans(site_admin, mlist, bans):
    client = client_for(site_admin)
    assert [row["email"] for row in client.get(SITE_BANS).json()["results"]] == ["mallory@example.net"]
    created = client.post(SITE_BANS, {"email": r"^.*@junk\.example$"})
    assert created.status_code == 201
    assert created.json()["list_id"] is None
    assert is_banned(mlist, "a@junk.example")
    assert client.delete(f"{SITE_BANS}{created.json()['id']}/").status_code == 204
    assert not is_banned(mlist, "a@junk.example")


def test_owners_cannot_touch_site_wide_bans(owner, bans):
    client = client_for(owner)
    assert client.get(SITE_BANS).status_code == 403
    assert client.post(SITE_BANS, {"email": "x@example.net"}).status_code == 403
    assert client.delete(f"{SITE_BANS}{bans['site'].pk}/").status_code == 403
    assert Ban.objects.filter(mailing_list__isnull=True).count() == 1


def test_a_read_only_key_reads_but_cannot_ban(owner, bans):
    client = key_client(owner, scope="read")
    assert client.get(BANS).status_code == 200
    assert client.post(BANS, {"email": "x@example.net"}).status_code == 403


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "email"),
        ({"email": ""}, "email"),
        ({"email": "x@example.net", "reason": "spam"}, "reason"),
        ({"email": ["x@example.net"]}, "email"),
        ({"email": "x" * 255}, "email"),
        ({"email": "a\x00b@example.net"}, "email"),
    ],
)
def test_bad_ban_bodies_are_400_naming_the_field(owner, mlist, body, field):
    response = client_for(owner).post(BANS, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Ban.objects.exists()


@pytest.mark.parametrize("text", ["^(unclosed", "not an address", "eve@example.net\nBcc: x@example.net", "^a\x07"])
def test_invalid_patterns_and_addresses_are_400_with_a_message(owner, mlist, text):
    response = client_for(owner).post(BANS, {"email": text})
    assert response.status_code == 400
    assert response.json()["message"]
    assert not Ban.objects.exists()


def test_malformed_json_is_400(owner, mlist):
    response = client_for(owner).post(BANS, "{", content_type="application/json")
    assert response.status_code == 400
    assert not Ban.objects.exists()


@pytest.mark.parametrize("ref", ["99999999999999999999", "abc", "-1"])
def test_hostile_ban_ids_are_404(site_admin, bans, ref):
    assert client_for(site_admin).delete(f"{SITE_BANS}{ref}/").status_code == 404
    assert client_for(site_admin).delete(f"{BANS}{ref}/").status_code == 404
