"""Owners' invitations: an invite mail with an accept link; banned addresses refused."""

from members.models import Membership
from members.services import ban
from members.workflows import Status, accept_invitation, confirm, invite
from tests.workflow_support import token_of, with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

GUEST = "guest@example.net"


def is_member(mlist) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=GUEST).exists()


def test_an_invitation_is_accepted_by_its_link(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="confirm_then_moderate")
    assert committed(invite, mlist, GUEST, owner).status == Status.INVITED
    [mail] = smtp_sink.to(GUEST)
    assert "invite" in mail.message.get_content()
    assert owner.email not in mail.message.get_content()
    result = committed(accept_invitation, token_of(mail), mlist=mlist)
    # The owner invited: no second approval.
    assert result.status == Status.SUBSCRIBED
    assert is_member(mlist)
    assert any("Welcome" in str(m.message["Subject"]) for m in smtp_sink.to(GUEST))


def test_an_invitation_can_be_accepted_by_reply_token(mlist, owner, smtp_sink, committed):
    committed(invite, mlist, GUEST, owner)
    assert committed(confirm, token_of(smtp_sink.to(GUEST)[0])).status == Status.SUBSCRIBED


def test_a_banned_address_is_not_invited(mlist, owner, smtp_sink, committed):
    ban(None, r"^guest@")
    result = committed(invite, mlist, GUEST, owner)
    assert result.status == Status.BANNED
    assert "^guest@" not in str(result)
    assert not smtp_sink.received


def test_an_invitation_accepted_after_a_ban_subscribes_nobody(mlist, owner, smtp_sink, committed):
    committed(invite, mlist, GUEST, owner)
    ban(mlist, GUEST)
    assert committed(accept_invitation, token_of(smtp_sink.to(GUEST)[0])).status == Status.BANNED
    assert not is_member(mlist)


def test_a_member_is_not_invited(mlist, owner, member, smtp_sink, committed):
    assert committed(invite, mlist, member.email, owner).status == Status.ALREADY_MEMBER
    assert not smtp_sink.received
