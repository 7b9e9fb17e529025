"""/members/{id}/preferences/: a member's delivery and preferences, for the
member themself, the list's owners and site admins."""

import pytest

from lists.services import configure_list, create_list
from members.models import Membership, Role
from members.services import subscribe, update_membership
from tests.api_callers import API, client_for, key_client, make_moderator
from tests.conftest import make_user

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

FIELDS = {
    "delivery_mode",
    "delivery_status",
    "receive_own_postings",
    "receive_list_copy",
    "acknowledge_posts",
    "hide_address",
}


@pytest.fixture
def membership(mlist, member) -> Membership:
    return Membership.objects.get(mailing_list=mlist, address__email=member.email, role=Role.MEMBER)


def own_url(membership: Membership) -> str:
    return f"{API}/members/{membership.pk}/preferences/"


def roster_url(membership: Membership) -> str:
    return f"{API}/lists/ant.example.com/members/{membership.pk}/preferences/"


def test_a_member_reads_their_preferences(member, membership):
    response = client_for(member).get(own_url(membership))
    assert response.status_code == 200
    assert response.json() == {
        "delivery_mode": "regular",
        "delivery_status": "enabled",
        "receive_own_postings": True,
        "receive_list_copy": True,
        "acknowledge_posts": False,
        "hide_address": True,
    }


def test_a_member_sets_their_preferences(member, membership):
    changes = {
        "receive_own_postings": False,
        "receive_list_copy": False,
        "acknowledge_posts": True,
        "hide_address": False,
        "delivery_mode": "mime_digests",
        "delivery_status": "by_user",
    }
    response = client_for(member).patch(own_url(membership), changes)
    assert response.status_code == 200, response.json()
    assert response.json() == changes
    membership.refresh_from_db()
    assert {name: getattr(membership, name) for name in FIELDS} == changes


def test_a_member_cannot_lift_a_moderators_stop(member, membership):
    update_membership(membership, delivery_status="by_moderator")
    response = client_for(member).patch(own_url(membership), {"delivery_status": "enabled"})
    assert response.status_code == 400
    assert "moderator stopped your mail" in str(response.json())
    membership.refresh_from_db()
    assert membership.delivery_status == "by_moderator"


def test_a_member_turns_mail_stopped_by_bounces_back_on(member, membership):
    update_membership(membership, delivery_status="by_bounces")
    response = client_for(member).patch(own_url(membership), {"delivery_status": "enabled"})
    assert response.status_code == 200, response.json()
    membership.refresh_from_db()
    assert membership.delivery_status == "enabled"


def test_a_member_cannot_choose_digests_the_list_does_not_offer(mlist, member, membership):
    configure_list(mlist, digestable=False)
    response = client_for(member).patch(own_url(membership), {"delivery_mode": "mime_digests"})
    assert response.status_code == 400
    assert "does not offer" in str(response.json())
    membership.refresh_from_db()
    assert membership.delivery_mode == "regular"


def test_a_member_cannot_stop_their_mail_in_a_moderators_name(member, membership):
    response = client_for(member).patch(own_url(membership), {"delivery_status": "by_moderator"})
    assert response.status_code == 403
    assert "by_user" in response.json()["message"]
    membership.refresh_from_db()
    assert membership.delivery_status == "enabled"


@pytest.mark.parametrize("role", ["owner", "site_admin"])
def test_owners_and_site_admins_read_and_set_a_members_preferences(request, role, membership):
    client = client_for(request.getfixturevalue(role))
    for url in (own_url(membership), roster_url(membership)):
        assert set(client.get(url).json()) == FIELDS
    response = client.patch(roster_url(membership), {"delivery_status": "by_moderator", "acknowledge_posts": True})
    assert response.status_code == 200
    membership.refresh_from_db()
    assert (membership.delivery_status, membership.acknowledge_posts) == ("by_moderator", True)


def test_a_moderator_sees_the_roster_but_not_the_preferences(mlist, membership):
    client = client_for(make_moderator(mlist))
    assert client.get(f"{API}/lists/ant.example.com/members/{membership.pk}/").status_code == 200
    assert client.get(roster_url(membership)).status_code == 403
    assert client.patch(roster_url(membership), {"hide_address": False}).status_code == 403
    membership.refresh_from_db()
    assert membership.hide_address


def test_other_members_and_strangers_do_not_find_it(mlist, membership, stranger):
    other = make_user("other@example.org")
    subscribe(mlist, other.email)
    for caller in (other, stranger):
        client = client_for(caller)
        assert client.get(own_url(membership)).status_code == 404
        assert client.patch(own_url(membership), {"hide_address": False}).status_code == 404


def test_anonymous_callers_get_401(membership):
    assert client_for().get(own_url(membership)).status_code == 401
    assert client_for().patch(own_url(membership), {"hide_address": False}).status_code == 401


def test_a_read_only_key_reads_but_cannot_change(member, membership):
    client = key_client(member, scope="read")
    assert client.get(own_url(membership)).status_code == 200
    assert client.patch(own_url(membership), {"hide_address": False}).status_code == 403


def test_a_membership_under_another_list_is_not_found(owner, membership, domain):
    create_list("bee@example.com")
    url = f"{API}/lists/bee.example.com/members/{membership.pk}/preferences/"
    assert client_for(owner).get(url).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"hide_address": "maybe"}, "hide_address"),
        ({"hide_address": None}, "hide_address"),
        ({"delivery_mode": "carrier_pigeon"}, "delivery_mode"),
        ({"delivery_status": ["enabled"]}, "delivery_status"),
        ({"role": "owner"}, "role"),
        ({"moderation_action": "accept"}, "moderation_action"),
    ],
)
def test_bad_changes_are_400_naming_the_field_and_change_nothing(member, membership, body, field):
    response = client_for(member).patch(own_url(membership), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    membership.refresh_from_db()
    assert (membership.role, membership.hide_address, membership.delivery_mode) == ("member", True, "regular")


@pytest.mark.parametrize("body", [{}, [], "true"])
def test_an_empty_or_shapeless_change_is_400(member, membership, body):
    response = client_for(member).patch(own_url(membership), body, format="json")
    assert response.status_code == 400
    assert response.json()["message"]


def test_malformed_json_is_400(member, membership):
    response = client_for(member).patch(own_url(membership), "{'single': quotes}", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("ref", ["99999999999999999999", "abc"])
def test_hostile_membership_ids_are_404(member, ref):
    assert client_for(member).get(f"{API}/members/{ref}/preferences/").status_code == 404
