"""Owners' decisions on subscription requests: approve, reject with a reason, defer."""

import pytest

from mailman_site import events
from members.models import Membership, RequestStatus
from members.services import BannedAddress, ban
from members.workflows import (
    RequestAlreadyDecided,
    Status,
    approve_request,
    defer_request,
    pending_requests,
    reject_request,
    request_subscription,
)
from tests.workflow_support import with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NEWCOMER = "newcomer@example.net"


@pytest.fixture
def pending(mlist, owner, committed):
    with_policy(mlist, subscription_policy="moderate")
    return committed(request_subscription, mlist, NEWCOMER, pre_verified=True).request


def test_pending_requests_are_listed_for_the_owners(mlist, pending):
    assert list(pending_requests(mlist)) == [pending]


def test_rejected_requester_is_told_the_reason(mlist, owner, pending, smtp_sink, committed):
    result = committed(reject_request, pending, owner, "Members of the ant colony only.")
    assert result.status == Status.NOT_MEMBER
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.decision_reason) == (
        RequestStatus.REJECTED,
        owner,
        "Members of the ant colony only.",
    )
    assert not Membership.objects.filter(address__email=NEWCOMER).exists()
    [mail] = smtp_sink.to(NEWCOMER)
    assert "rejected" in str(mail.message["Subject"])
    assert "Members of the ant colony only." in mail.message.get_content()
    assert list(pending_requests(mlist)) == []


def test_deferred_request_stays_pending(mlist, owner, pending, smtp_sink):
    deferred = defer_request(pending, owner)
    assert deferred.status == RequestStatus.PENDING
    assert deferred.deferred_at is not None
    assert list(pending_requests(mlist)) == [pending]
    assert not smtp_sink.to(NEWCOMER)


def test_the_first_decision_wins(owner, pending, smtp_sink, committed):
    committed(approve_request, pending, owner)
    with pytest.raises(RequestAlreadyDecided):
        reject_request(pending, owner, "too late")
    with pytest.raises(RequestAlreadyDecided):
        defer_request(pending, owner)
    pending.refresh_from_db()
    assert pending.status == RequestStatus.APPROVED


def test_decisions_are_announced(owner, pending, smtp_sink, committed):
    decided = []
    events.subscription_request_decided.connect(
        lambda **kw: decided.append(kw["request"].status), weak=False, dispatch_uid="t3"
    )
    try:
        committed(approve_request, pending, owner)
    finally:
        events.subscription_request_decided.disconnect(dispatch_uid="t3")
    assert decided == [RequestStatus.APPROVED]


def test_approving_a_since_banned_address_fails_and_keeps_it_pending(mlist, owner, pending, smtp_sink):
    ban(mlist, NEWCOMER)
    with pytest.raises(BannedAddress) as raised:
        approve_request(pending, owner)
    assert NEWCOMER in str(raised.value)
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING
