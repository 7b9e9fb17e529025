"""Leaving a list under the open and the confirm unsubscription policies."""

from mailman_site import events
from members.models import Membership
from members.services import subscribe
from members.workflows import Status, confirm, request_unsubscription
from tests.workflow_support import token_of, with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]


def is_member(mlist, email) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=email, role="member").exists()


def test_open_policy_lets_a_verified_member_leave_at_once_with_a_goodbye(mlist, member, smtp_sink, committed):
    removed = []
    events.member_removed.connect(lambda **kw: removed.append(kw["emails"]), weak=False, dispatch_uid="t4")
    try:
        result = committed(request_unsubscription, mlist, member.email, pre_verified=True)
    finally:
        events.member_removed.disconnect(dispatch_uid="t4")
    assert result.status == Status.UNSUBSCRIBED
    assert not is_member(mlist, member.email)
    assert removed == [[member.email]]
    [mail] = smtp_sink.to(member.email)
    assert "left" in str(mail.message["Subject"])


def test_open_policy_confirms_when_the_requester_is_unproven(mlist, member, smtp_sink, committed):
    result = committed(request_unsubscription, mlist, member.email)
    assert result.status == Status.CONFIRMATION_SENT
    assert is_member(mlist, member.email)
    [mail] = smtp_sink.to(member.email)
    assert committed(confirm, token_of(mail)).status == Status.UNSUBSCRIBED
    assert not is_member(mlist, member.email)
    assert len(smtp_sink.to(member.email)) == 2


def test_confirm_policy_asks_first_even_a_verified_member(mlist, member, smtp_sink, committed):
    with_policy(mlist, unsubscription_policy="confirm")
    result = committed(request_unsubscription, mlist, member.email, pre_verified=True)
    assert result.status == Status.CONFIRMATION_SENT
    [mail] = smtp_sink.to(member.email)
    assert "unsubscribe" in mail.message.get_content()
    assert committed(confirm, token_of(mail)).status == Status.UNSUBSCRIBED
    assert not is_member(mlist, member.email)


def test_pre_confirmed_skips_the_confirmation(mlist, member, smtp_sink, committed):
    with_policy(mlist, unsubscription_policy="confirm")
    assert committed(request_unsubscription, mlist, member.email, pre_confirmed=True).status == Status.UNSUBSCRIBED


def test_no_goodbye_when_the_list_sends_none(mlist, member, smtp_sink, committed):
    with_policy(mlist, send_goodbye_message=False)
    committed(request_unsubscription, mlist, member.email, pre_verified=True)
    assert not smtp_sink.received


def test_a_non_member_gets_the_same_answer_and_the_same_mail(mlist, member, smtp_sink, committed):
    for_member = committed(request_unsubscription, mlist, member.email)
    for_stranger = committed(request_unsubscription, mlist, "nobody@example.net")
    assert for_stranger.status == Status.NOT_MEMBER
    assert for_stranger.public_status == for_member.public_status == Status.CONFIRMATION_SENT
    [to_member] = smtp_sink.to(member.email)
    [to_stranger] = smtp_sink.to("nobody@example.net")

    def wording(mail, email):
        return mail.message.get_content().replace(token_of(mail), "TOKEN").replace(email, "ADDRESS")

    assert wording(to_stranger, "nobody@example.net") == wording(to_member, member.email)


def test_a_non_member_who_confirms_changes_nothing(mlist, smtp_sink, committed):
    committed(request_unsubscription, mlist, "nobody@example.net")
    [mail] = smtp_sink.to("nobody@example.net")
    result = committed(confirm, token_of(mail))
    assert result.status == Status.NOT_MEMBER
    assert result.public_status == Status.UNSUBSCRIBED
    assert not Membership.objects.filter(address__email="nobody@example.net").exists()


def test_an_unsubscription_token_does_not_touch_another_role(mlist, member, smtp_sink, committed):
    subscribe(mlist, member.email, role="moderator")
    committed(request_unsubscription, mlist, member.email)
    [mail] = smtp_sink.to(member.email)
    committed(confirm, token_of(mail))
    assert Membership.objects.filter(address__email=member.email, role="moderator").exists()
