"""/lists/{list_id}/invitations/: owners invite an address; the invitee
accepts from the mail."""

import pytest

from lists.services import create_list
from members.models import ConfirmationToken, Membership
from members.services import ban
from members.workflows import Status, accept_invitation
from tests.api_callers import API, client_for, key_client, make_moderator
from tests.workflow_support import token_of

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

INVITE = f"{API}/lists/ant.example.com/invitations/"
GUEST = "guest@example.net"


@pytest.mark.parametrize("role", ["owner", "site_admin"])
def test_owners_and_site_admins_invite_and_the_guest_accepts(request, role, mlist, smtp_sink, committed):
    response = client_for(request.getfixturevalue(role)).post(INVITE, {"email": "Guest@Example.net"})
    assert response.status_code == 202, response.json()
    assert response.json() == {"status": "invited", "email": GUEST}
    [mail] = smtp_sink.to(GUEST)
    assert committed(accept_invitation, token_of(mail), mlist=mlist).status == Status.SUBSCRIBED
    assert Membership.objects.filter(mailing_list=mlist, address__email=GUEST, role="member").exists()


@pytest.mark.parametrize("role", ["member", "stranger"])
def test_moderators_members_and_strangers_cannot_invite(request, mlist, role, smtp_sink):
    for caller in (make_moderator(mlist), request.getfixturevalue(role)):
        response = client_for(caller).post(INVITE, {"email": GUEST})
        assert response.status_code == 403
        assert response.json()["message"]
    assert not smtp_sink.received


def test_anonymous_callers_get_401(mlist, smtp_sink):
    assert client_for().post(INVITE, {"email": GUEST}).status_code == 401
    assert not smtp_sink.received


def test_a_hidden_list_is_not_found_by_strangers(stranger, domain):
    create_list("secret@example.com", advertised=False)
    assert client_for(stranger).post(f"{API}/lists/secret.example.com/invitations/", {"email": GUEST}).status_code == (
        404
    )


def test_a_member_is_409_and_not_mailed(owner, member, smtp_sink):
    response = client_for(owner).post(INVITE, {"email": member.email})
    assert response.status_code == 409
    assert "already" in response.json()["message"]
    assert not smtp_sink.received


def test_a_banned_address_is_400_without_the_pattern(owner, mlist, smtp_sink):
    ban(None, r"^guest@.*$")
    response = client_for(owner).post(INVITE, {"email": GUEST})
    assert response.status_code == 400
    assert "may not subscribe" in response.json()["message"]
    assert "^" not in response.json()["message"]
    assert not smtp_sink.received


def test_past_the_addresses_allowance_is_429(owner, mlist, smtp_sink, settings):
    settings.MEMBERS_RATE_LIMITS = {"address": (1, 3600)}
    client = client_for(owner)
    assert client.post(INVITE, {"email": GUEST}).status_code == 202
    response = client.post(INVITE, {"email": GUEST})
    assert response.status_code == 429
    assert response.json()["message"]
    assert len(smtp_sink.received) == 1


def test_a_mail_server_down_is_503_and_nothing_is_kept(owner, mlist, smtp_down):
    response = client_for(owner).post(INVITE, {"email": GUEST})
    assert response.status_code == 503
    assert response.json()["message"]
    assert not ConfirmationToken.objects.exists()


def test_a_read_only_key_cannot_invite(owner, mlist, smtp_sink):
    assert key_client(owner, scope="read").post(INVITE, {"email": GUEST}).status_code == 403


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "guest@example.net\r\nBcc: x@example.net"}, "email"),
        ({"email": GUEST, "pre_approved": True}, "pre_approved"),
        ({"email": GUEST, "display_name": "x" * 256}, "display_name"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(owner, mlist, smtp_sink, body, field):
    response = client_for(owner).post(INVITE, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not smtp_sink.received


def test_an_unknown_list_is_404(owner, smtp_sink):
    response = client_for(owner).post(f"{API}/lists/nope.example.com/invitations/", {"email": GUEST})
    assert response.status_code == 404
    assert response.json()["message"]


def test_listing_invitations_is_not_offered(owner):
    assert client_for(owner).get(INVITE).status_code == 405
