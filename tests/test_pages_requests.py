"""The page of pending subscription requests: approve, reject with a reason, defer."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from lists.services import configure_list
from members.models import Membership, RequestStatus, Role, SubscriptionRequest
from members.services import ban, subscribe
from members.workflows import approve_request, request_subscription
from tests.conftest import make_user

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

PAGE = "/lists/ant.example.com/requests/"
NEWCOMER = "newcomer@example.net"


@pytest.fixture
def pending(mlist, committed) -> SubscriptionRequest:
    configure_list(mlist, subscription_policy="moderate")
    return committed(request_subscription, mlist, NEWCOMER, display_name="New Comer", pre_verified=True).request


@pytest.fixture
def owner_client(client, owner) -> Client:
    client.force_login(owner)
    return client


def decide(client, pending, action: str, reason: str = ""):
    return client.post(f"{PAGE}{pending.pk}/", {"action": action, "reason": reason})


def is_member(email: str) -> bool:
    return Membership.objects.filter(address__email=email, role=Role.MEMBER).exists()


def test_owner_sees_the_pending_requests(owner_client, pending):
    content = owner_client.get(PAGE).content.decode()
    assert NEWCOMER in content
    assert "New Comer" in content


def test_decided_requests_are_not_listed(owner_client, owner, pending):
    approve_request(pending, owner)
    assert "No requests are waiting." in owner_client.get(PAGE).content.decode()


def test_the_owners_notice_links_to_this_page(mlist, owner, smtp_sink, committed, owner_client):
    configure_list(mlist, subscription_policy="moderate")
    committed(request_subscription, mlist, NEWCOMER, pre_verified=True)
    [notice] = smtp_sink.to("owner@example.org")
    (url,) = re.findall(r"https?://\S+/requests/", notice.message.get_content())
    assert urlsplit(url).path == PAGE
    assert NEWCOMER in owner_client.get(urlsplit(url).path).content.decode()


def test_approving_makes_a_member_and_sends_the_welcome(
    owner_client, pending, smtp_sink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(owner_client, pending, "approve")
    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert is_member(NEWCOMER)
    [welcome] = smtp_sink.to(NEWCOMER)
    assert "Welcome" in str(welcome.message["Subject"])
    assert f"{NEWCOMER} is now a member." in owner_client.get(PAGE).content.decode()


def test_rejecting_tells_the_person_the_reason(
    owner_client, owner, pending, smtp_sink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        decide(owner_client, pending, "reject", "Ants only, <b>sorry</b>.")
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.decision_reason) == (
        RequestStatus.REJECTED,
        owner,
        "Ants only, <b>sorry</b>.",
    )
    [refusal] = smtp_sink.to(NEWCOMER)
    assert "Ants only, <b>sorry</b>." in refusal.message.get_content()
    assert not is_member(NEWCOMER)


def test_deferring_keeps_the_request_pending_and_marked(owner_client, pending, smtp_sink):
    decide(owner_client, pending, "defer")
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING
    assert pending.deferred_at is not None
    assert "deferred" in owner_client.get(PAGE).content.decode()
    assert not smtp_sink.to(NEWCOMER)


def test_a_moderator_decides_too(client, mlist, pending):
    moderator = make_user("moderator@example.org")
    subscribe(mlist, moderator.email, role=Role.MODERATOR)
    client.force_login(moderator)
    decide(client, pending, "approve")
    assert is_member(NEWCOMER)


def test_a_request_decided_meanwhile_is_reported_not_decided_again(owner_client, owner, pending):
    approve_request(pending, owner)
    response = decide(owner_client, pending, "reject", "too late")
    assert response.status_code == 302
    assert "decided on the request of newcomer@example.net already" in owner_client.get(PAGE).content.decode()
    pending.refresh_from_db()
    assert pending.status == RequestStatus.APPROVED


def test_an_address_banned_meanwhile_stays_pending(owner_client, mlist, pending):
    ban(mlist, "^new.*@example\\.net$")
    decide(owner_client, pending, "approve")
    assert not is_member(NEWCOMER)
    assert "is banned from this list" in owner_client.get(PAGE).content.decode()
    assert SubscriptionRequest.objects.get(pk=pending.pk).status == RequestStatus.PENDING


@pytest.mark.parametrize(
    "data",
    [
        {"action": "delete"},
        {},
        {"action": "reject", "reason": "x" * 1001},
        {"action": "reject", "reason": "bad\x00byte"},
    ],
)
def test_bad_decisions_are_400_and_change_nothing(owner_client, pending, smtp_sink, data):
    assert owner_client.post(f"{PAGE}{pending.pk}/", data).status_code == 400
    assert SubscriptionRequest.objects.get(pk=pending.pk).status == RequestStatus.PENDING
    assert not smtp_sink.to(NEWCOMER)


def test_an_unknown_request_is_404(owner_client, pending):
    assert owner_client.post(f"{PAGE}999999/", {"action": "approve"}).status_code == 404


def test_a_get_decides_nothing(owner_client, pending):
    assert owner_client.get(f"{PAGE}{pending.pk}/?action=approve").status_code == 405
    assert not is_member(NEWCOMER)
