"""Subscription requests under each of the four policies, end to end at the
service level: request, confirmation mail at the SMTP sink, confirm with the
mailed token, an owner's approval where the policy asks, welcome mail."""

import pytest

from mailman_site import events
from members.models import Address, ConfirmationToken, Membership, RequestStatus, SubscriptionRequest
from members.services import ban, subscribe, verify_address
from members.workflows import Status, approve_request, confirm, request_subscription
from messages.outgoing import SendError
from tests.workflow_support import token_of, with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NEWCOMER = "newcomer@example.net"


def is_member(mlist, email=NEWCOMER) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=email, role="member").exists()


def welcome_mails(smtp_sink, email=NEWCOMER):
    return [mail for mail in smtp_sink.to(email) if "Welcome" in str(mail.message["Subject"])]


def test_open_list_subscribes_after_the_address_is_confirmed(mlist, smtp_sink, committed):
    with_policy(mlist, subscription_policy="open")
    result = committed(request_subscription, mlist, NEWCOMER)
    assert result.status == result.public_status == Status.CONFIRMATION_SENT
    assert not is_member(mlist)
    [mail] = smtp_sink.to(NEWCOMER)
    result = committed(confirm, token_of(mail))
    assert result.status == Status.SUBSCRIBED
    assert is_member(mlist)
    assert Address.objects.get(email=NEWCOMER).verified
    assert len(welcome_mails(smtp_sink)) == 1


def test_open_list_subscribes_a_verified_address_at_once(mlist, smtp_sink, committed):
    with_policy(mlist, subscription_policy="open")
    result = committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    assert result.status == Status.SUBSCRIBED
    assert is_member(mlist)
    [mail] = smtp_sink.to(NEWCOMER)
    assert "Welcome" in str(mail.message["Subject"])


def test_open_list_asks_an_address_verified_earlier_unless_the_caller_vouches(mlist, smtp_sink, committed):
    with_policy(mlist, subscription_policy="open")
    verify_address(NEWCOMER)
    result = committed(request_subscription, mlist, NEWCOMER)
    assert result.status == Status.CONFIRMATION_SENT
    assert not is_member(mlist)


def test_confirm_policy_asks_even_a_verified_address(mlist, smtp_sink, committed):
    verify_address(NEWCOMER)
    result = committed(request_subscription, mlist, "Newcomer <NewComer@Example.net>")
    assert result.status == Status.CONFIRMATION_SENT
    [mail] = smtp_sink.to(NEWCOMER)
    assert mail.mail_from == "ant-bounces@example.com"
    assert mail.message["From"] == "ant-request@example.com"
    assert committed(confirm, token_of(mail)).status == Status.SUBSCRIBED
    membership = Membership.objects.get(mailing_list=mlist, address__email=NEWCOMER)
    assert membership.address.display_name == "Newcomer"
    assert len(welcome_mails(smtp_sink)) == 1


def test_pre_confirmed_skips_the_confirmation_of_a_verified_address(mlist, smtp_sink, committed):
    result = committed(request_subscription, mlist, NEWCOMER, pre_verified=True, pre_confirmed=True)
    assert result.status == Status.SUBSCRIBED
    assert is_member(mlist)


def test_moderate_policy_waits_for_an_owner(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="moderate")
    requested = []
    events.subscription_requested.connect(lambda **kw: requested.append(kw["email"]), weak=False, dispatch_uid="t1")
    try:
        result = committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    finally:
        events.subscription_requested.disconnect(dispatch_uid="t1")
    assert result.status == Status.PENDING_APPROVAL
    assert requested == [NEWCOMER]
    assert not is_member(mlist)
    [notice] = smtp_sink.to(owner.email)
    assert NEWCOMER in str(notice.message["Subject"])
    assert "/lists/ant.example.com/requests/" in notice.message.get_content()
    result = committed(approve_request, result.request, owner)
    assert result.status == Status.SUBSCRIBED
    assert is_member(mlist)
    assert SubscriptionRequest.objects.get().status == RequestStatus.APPROVED
    assert len(welcome_mails(smtp_sink)) == 1


def test_moderate_policy_still_verifies_an_unverified_address_first(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="moderate")
    result = committed(request_subscription, mlist, NEWCOMER)
    assert result.status == Status.CONFIRMATION_SENT
    assert not SubscriptionRequest.objects.exists()
    [mail] = smtp_sink.to(NEWCOMER)
    assert committed(confirm, token_of(mail)).status == Status.PENDING_APPROVAL


def test_confirm_then_moderate_becomes_an_owner_request_after_confirmation(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="confirm_then_moderate")
    assert committed(request_subscription, mlist, NEWCOMER).status == Status.CONFIRMATION_SENT
    assert not smtp_sink.to(owner.email)
    [mail] = smtp_sink.to(NEWCOMER)
    result = committed(confirm, token_of(mail))
    assert result.status == Status.PENDING_APPROVAL
    assert not is_member(mlist)
    assert len(smtp_sink.to(owner.email)) == 1
    assert committed(approve_request, result.request, owner).status == Status.SUBSCRIBED
    assert is_member(mlist)
    assert len(welcome_mails(smtp_sink)) == 1


def test_pre_approved_skips_the_owner(mlist, smtp_sink, committed):
    with_policy(mlist, subscription_policy="confirm_then_moderate")
    committed(request_subscription, mlist, NEWCOMER, pre_approved=True)
    [mail] = smtp_sink.to(NEWCOMER)
    assert committed(confirm, token_of(mail)).status == Status.SUBSCRIBED


def test_owners_who_turned_notices_off_get_none(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="moderate", admin_immed_notify=False)
    committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    assert SubscriptionRequest.objects.filter(status=RequestStatus.PENDING).count() == 1
    assert not smtp_sink.received


def test_no_welcome_when_the_list_sends_none(mlist, smtp_sink, committed):
    with_policy(mlist, subscription_policy="open", send_welcome_message=False)
    committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    assert is_member(mlist)
    assert not smtp_sink.received


def test_no_welcome_when_the_caller_suppresses_it(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER, pre_verified=True, pre_confirmed=True, send_welcome=False)
    assert is_member(mlist)
    assert not smtp_sink.received


def test_member_added_is_emitted_once(mlist, smtp_sink, committed):
    added = []
    events.member_added.connect(lambda **kw: added.append(kw["emails"]), weak=False, dispatch_uid="t2")
    try:
        committed(request_subscription, mlist, NEWCOMER, pre_verified=True, pre_confirmed=True)
    finally:
        events.member_added.disconnect(dispatch_uid="t2")
    assert added == [[NEWCOMER]]


def test_banned_address_gets_the_same_answer_and_no_mail(mlist, smtp_sink, committed):
    ban(None, r"^.*@example\.net$")
    result = committed(request_subscription, mlist, NEWCOMER)
    assert result.status == Status.BANNED
    assert result.public_status == Status.CONFIRMATION_SENT
    assert not result.token
    assert not smtp_sink.received
    assert not is_member(mlist)
    assert not Address.objects.filter(email=NEWCOMER).exists()


def test_subscribed_address_gets_the_same_answer_and_the_same_mail(mlist, member, smtp_sink, committed):
    # The same work as for a new address, so that neither the answer nor the
    # time it takes tells who is subscribed; confirming changes nothing.
    result = committed(request_subscription, mlist, member.email)
    assert result.status == Status.ALREADY_MEMBER
    assert result.public_status == Status.CONFIRMATION_SENT
    [mail] = smtp_sink.to(member.email)
    confirmed = committed(confirm, token_of(mail))
    assert (confirmed.status, confirmed.public_status) == (Status.ALREADY_MEMBER, Status.SUBSCRIBED)
    assert len(smtp_sink.received) == 1, "no welcome for a member"


def test_a_second_request_while_one_is_pending_sends_nothing(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="moderate")
    committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    result = committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    assert result.status == Status.ALREADY_PENDING
    assert result.public_status == Status.PENDING_APPROVAL
    assert SubscriptionRequest.objects.count() == 1
    assert len(smtp_sink.to(owner.email)) == 1


def test_a_new_request_makes_the_earlier_token_worthless(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER)
    committed(request_subscription, mlist, NEWCOMER)
    first, second = smtp_sink.to(NEWCOMER)
    assert committed(confirm, token_of(first)).status == Status.INVALID_TOKEN
    assert committed(confirm, token_of(second)).status == Status.SUBSCRIBED


def test_a_ban_after_the_request_stops_the_confirmation(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER)
    [mail] = smtp_sink.to(NEWCOMER)
    ban(mlist, NEWCOMER)
    assert committed(confirm, token_of(mail)).status == Status.BANNED
    assert not is_member(mlist)


def test_confirming_after_subscribing_otherwise_says_already_member(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER)
    [mail] = smtp_sink.to(NEWCOMER)
    subscribe(mlist, NEWCOMER)
    assert committed(confirm, token_of(mail)).status == Status.ALREADY_MEMBER


def test_unsendable_confirmation_leaves_nothing_behind(mlist, smtp_down):
    with pytest.raises(SendError):
        request_subscription(mlist, NEWCOMER)
    assert not ConfirmationToken.objects.exists()


def test_unknown_caller_kind_is_refused(mlist):
    with pytest.raises(ValueError, match="via"):
        request_subscription(mlist, NEWCOMER, via="carrier pigeon")
