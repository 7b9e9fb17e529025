"""The invitation page: an owner invites an address; accepting subscribes it."""

import re
from urllib.parse import urlsplit

import pytest

from lists.services import configure_list
from members.models import ConfirmationToken, Membership, Role
from members.services import ban

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

PAGE = "/lists/ant.example.com/invite/"
FRIEND = "friend@example.net"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def is_member(email: str) -> bool:
    return Membership.objects.filter(address__email=email, role=Role.MEMBER).exists()


def outcome(client) -> str:
    return client.get(PAGE).content.decode()


def test_an_invitation_is_accepted_by_its_link(owner_client, client, mlist, smtp_sink):
    configure_list(mlist, subscription_policy="confirm_then_moderate")
    response = owner_client.post(PAGE, {"email": "Friend@Example.NET", "display_name": "Friend"})
    assert response.status_code == 302
    assert f"An invitation went to {FRIEND}." in outcome(owner_client)
    [invitation] = smtp_sink.to(FRIEND)
    (url,) = re.findall(r"https?://\S+/confirm/\S+/", invitation.message.get_content())
    client.logout()
    client.post(urlsplit(url).path)
    assert is_member(FRIEND), "accepting needs no owner's approval"


def test_a_member_is_not_invited(owner_client, member, smtp_sink):
    owner_client.post(PAGE, {"email": "member@example.org"})
    assert "member@example.org is a member already." in outcome(owner_client)
    assert not smtp_sink.received


def test_a_banned_address_is_not_invited_and_the_pattern_not_shown(owner_client, mlist, smtp_sink):
    ban(None, "^friend@.*$")
    owner_client.post(PAGE, {"email": FRIEND})
    content = outcome(owner_client)
    assert f"{FRIEND} may not be invited to this list." in content
    assert "^friend" not in content
    assert not smtp_sink.received


@pytest.mark.parametrize(
    "data",
    [{}, {"email": "not an address"}, {"email": "a@example.net\r\nBcc: b@example.net"}, {"email": "x" * 300}],
)
def test_a_bad_address_is_a_form_error(owner_client, smtp_sink, data):
    response = owner_client.post(PAGE, data)
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert not smtp_sink.received


def test_a_mail_server_down_is_503_and_leaves_no_invitation(owner_client, smtp_down):
    response = owner_client.post(PAGE, {"email": FRIEND})
    assert response.status_code == 503
    assert b"could not send" in response.content
    assert not ConfirmationToken.objects.exists()


def test_invitations_to_one_address_are_limited(owner_client, smtp_sink):
    for _ in range(5):
        owner_client.post(PAGE, {"email": FRIEND})
    assert len(smtp_sink.to(FRIEND)) == 3
    assert "Too many mails went to" in outcome(owner_client)
