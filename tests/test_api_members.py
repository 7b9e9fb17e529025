import pytest

from lists.services import create_list
from members.models import Membership, Role
from members.services import ban, link_address, subscribe
from tests.api_callers import API, client_for, make_moderator
from tests.conftest import make_user

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

ROSTER = f"{API}/lists/ant.example.com/members/"


@pytest.fixture
def roster(mlist, owner, member) -> list[Membership]:
    """The owner, the member and three more members."""
    for n in range(3):
        subscribe(mlist, f"ant{n}@example.org")
    return list(Membership.objects.filter(mailing_list=mlist))


def own_membership(user, mlist) -> Membership:
    return Membership.objects.get(mailing_list=mlist, address__email=user.email, role=Role.MEMBER)


def test_owner_pages_through_the_roster(owner, roster):
    response = client_for(owner).get(ROSTER, {"limit": 2, "offset": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"]


def test_roster_filters_by_role_and_address(owner, roster):
    client = client_for(owner)
    owners = client.get(ROSTER, {"role": "owner"}).json()["results"]
    assert [m["email"] for m in owners] == ["owner@example.org"]
    found = client.get(ROSTER, {"address": "ANT1@example.org"}).json()["results"]
    assert [(m["email"], m["role"]) for m in found] == [("ant1@example.org", "member")]


def test_an_unknown_role_filter_is_400(owner, roster):
    response = client_for(owner).get(ROSTER, {"role": "emperor"})
    assert response.status_code == 400
    assert "role" in response.json()["errors"]


def test_moderator_reads_the_roster_but_cannot_change_it(mlist, roster):
    client = client_for(make_moderator(mlist))
    assert client.get(ROSTER).json()["count"] == 6
    assert client.post(ROSTER, {"email": "new@example.org"}).status_code == 403
    other = roster[-1]
    assert client.patch(f"{ROSTER}{other.pk}/", {"moderation_action": "hold"}).status_code == 403
    assert client.delete(f"{ROSTER}{other.pk}/").status_code == 403


def test_member_cannot_read_the_roster(member, roster):
    response = client_for(member).get(ROSTER)
    assert response.status_code == 403
    assert "roster" in response.json()["message"]


def test_member_sees_only_their_own_memberships(member, mlist, roster, domain):
    subscribe(create_list("bee@example.com"), member.email)
    response = client_for(member).get(f"{API}/members/")
    assert response.status_code == 200
    assert {(m["email"], m["list_id"]) for m in response.json()["results"]} == {
        ("member@example.org", "ant.example.com"),
        ("member@example.org", "bee.example.com"),
    }


def test_owner_sees_their_own_memberships_and_their_rosters(owner, roster, domain):
    subscribe(create_list("bee@example.com"), "someone@example.org")
    emails = {m["email"] for m in client_for(owner).get(f"{API}/members/").json()["results"]}
    assert "someone@example.org" not in emails
    assert len(emails) == 5


def test_site_admin_sees_every_membership(site_admin, roster):
    assert client_for(site_admin).get(f"{API}/members/").json()["count"] == 5


def test_member_cannot_see_another_members_membership(member, roster):
    other = roster[-1]
    assert client_for(member).get(f"{API}/members/{other.pk}/").status_code == 404
    assert client_for(member).delete(f"{ROSTER}{other.pk}/").status_code == 404


def test_strangers_get_403_on_an_advertised_roster_and_404_on_a_hidden_one(stranger, roster, domain):
    create_list("secret@example.com", advertised=False)
    assert client_for(stranger).get(ROSTER).status_code == 403
    assert client_for(stranger).get(f"{API}/lists/secret.example.com/members/").status_code == 404


def test_anonymous_callers_get_401(roster):
    assert client_for().get(ROSTER).status_code == 401
    assert client_for().get(f"{API}/members/").status_code == 401


def test_owner_adds_a_member(owner, mlist):
    response = client_for(owner).post(
        ROSTER, {"email": "New@Example.org", "display_name": "New", "delivery_mode": "mime_digests"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == "new@example.org"
    membership = Membership.objects.get(pk=response.json()["id"])
    assert (membership.role, membership.delivery_mode) == ("member", "mime_digests")


def test_owner_adds_a_moderator(owner, mlist):
    response = client_for(owner).post(ROSTER, {"email": "mod@example.org", "role": "moderator"})
    assert response.status_code == 201
    assert response.json()["role"] == "moderator"


def test_adding_someone_already_subscribed_is_409(owner, member):
    response = client_for(owner).post(ROSTER, {"email": member.email})
    assert response.status_code == 409
    assert "already a member" in response.json()["message"]


def test_adding_an_invalid_address_is_400(owner, mlist):
    response = client_for(owner).post(ROSTER, {"email": "not-an-address"})
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_adding_without_an_email_names_the_missing_field(owner, mlist):
    response = client_for(owner).post(ROSTER, {"display_name": "Nobody"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"email": ["This field is required."]}


def test_adding_a_banned_address_is_400(owner, mlist):
    ban(mlist, "^.*@spam\\.example$")
    response = client_for(owner).post(ROSTER, {"email": "x@spam.example"})
    assert response.status_code == 400
    assert "may not subscribe" in response.json()["message"]


def test_member_cannot_add_members(member):
    assert client_for(member).post(ROSTER, {"email": "friend@example.org"}).status_code == 403


def test_owner_changes_role_and_moderation_action(owner, member, mlist):
    membership = own_membership(member, mlist)
    response = client_for(owner).patch(f"{ROSTER}{membership.pk}/", {"moderation_action": "hold"})
    assert response.status_code == 200
    assert response.json()["moderation_action"] == "hold"
    response = client_for(owner).patch(f"{ROSTER}{membership.pk}/", {"role": "moderator"})
    assert response.json()["role"] == "moderator"


def test_member_changes_their_own_delivery(member, mlist):
    membership = own_membership(member, mlist)
    response = client_for(member).patch(
        f"{API}/members/{membership.pk}/", {"delivery_mode": "plaintext_digests", "delivery_status": "by_user"}
    )
    assert response.status_code == 200, response.json()
    membership.refresh_from_db()
    assert (membership.delivery_mode, membership.delivery_status) == ("plaintext_digests", "by_user")


@pytest.mark.parametrize(
    "change", [{"role": "owner"}, {"moderation_action": "accept"}, {"delivery_status": "by_moderator"}]
)
def test_member_cannot_promote_or_unmoderate_themselves(member, mlist, change):
    membership = own_membership(member, mlist)
    response = client_for(member).patch(f"{API}/members/{membership.pk}/", change)
    assert response.status_code == 403
    membership.refresh_from_db()
    assert (membership.role, membership.moderation_action) == ("member", "")


def test_an_empty_or_invalid_change_is_400(owner, member, mlist):
    membership = own_membership(member, mlist)
    client = client_for(owner)
    assert client.patch(f"{ROSTER}{membership.pk}/", {}).status_code == 400
    response = client.patch(f"{ROSTER}{membership.pk}/", {"delivery_mode": "carrier_pigeon"})
    assert response.status_code == 400
    assert "delivery_mode" in response.json()["errors"]


def test_member_unsubscribes_themselves(member, mlist):
    membership = own_membership(member, mlist)
    assert client_for(member).delete(f"{ROSTER}{membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_owner_removes_a_member(owner, member, mlist):
    membership = own_membership(member, mlist)
    assert client_for(owner).delete(f"{ROSTER}{membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_a_membership_is_not_found_under_another_list(owner, member, mlist, domain):
    subscribe(create_list("bee@example.com"), "owner@example.org", role=Role.OWNER)
    membership = own_membership(member, mlist)
    assert client_for(owner).get(f"{API}/lists/bee.example.com/members/{membership.pk}/").status_code == 404


@pytest.fixture
def unverified_owner(mlist):
    """A user whose only link to an owner address is unverified."""
    user = make_user("claimant@example.org")
    subscribe(mlist, "boss@example.org", role=Role.OWNER)
    link_address(user, "boss@example.org")
    return user


def test_a_role_held_through_an_unverified_address_grants_nothing(unverified_owner):
    client = client_for(unverified_owner)
    assert client.get(ROSTER).status_code == 403
    assert client.get(f"{API}/lists/ant.example.com/config/").status_code == 403


def test_a_banned_address_is_refused_by_the_workflow_and_the_owner_told(owner, mlist):
    from members.models import ConfirmationToken
    from members.services import ban

    ban(mlist, "spammer@example.net")
    response = client_for(owner).post(
        f"{API}/lists/ant.example.com/members/", {"email": "spammer@example.net", "pre_confirmed": False}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "banned"
    assert not ConfirmationToken.objects.exists()


def test_unconfirmed_subscription_mails_a_token_that_makes_a_member(owner, mlist, smtp_sink):
    from members.workflows import confirm

    response = client_for(owner).post(
        f"{API}/lists/ant.example.com/members/", {"email": "joiner@example.net", "pre_verified": False}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "confirmation_sent"
    (mail,) = smtp_sink.to("joiner@example.net")
    assert body["token"] in str(mail.message["Subject"])
    confirm(body["token"], mlist=mlist)
    assert Membership.objects.filter(address__email="joiner@example.net", role="member").exists()


def test_mail_server_down_is_503_and_nothing_is_written(owner, mlist, smtp_down):
    from members.models import ConfirmationToken

    response = client_for(owner).post(
        f"{API}/lists/ant.example.com/members/", {"email": "joiner@example.net", "pre_verified": False}
    )
    assert response.status_code == 503
    assert "message" in response.json()
    assert not ConfirmationToken.objects.exists()
