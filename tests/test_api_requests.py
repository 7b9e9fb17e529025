"""/lists/{list_id}/requests/: subscriptions waiting for approval, decided
through the API by the list's owners and moderators."""

import pytest

from lists.services import create_list
from mailman_site import events
from members.models import Membership, RequestStatus, SubscriptionRequest
from members.services import ban
from members.workflows import request_subscription
from tests.api_callers import API, client_for, key_client, make_moderator
from tests.workflow_support import with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NEWCOMER = "newcomer@example.net"
REQUESTS = f"{API}/lists/ant.example.com/requests/"


@pytest.fixture
def pending(mlist, committed) -> SubscriptionRequest:
    with_policy(mlist, subscription_policy="moderate", admin_immed_notify=False)
    return committed(request_subscription, mlist, NEWCOMER, display_name="New Comer", pre_verified=True).request


@pytest.fixture
def moderator(mlist):
    return make_moderator(mlist)


def is_member(email: str = NEWCOMER) -> bool:
    return Membership.objects.filter(address__email=email, role="member").exists()


@pytest.mark.parametrize("role", ["site_admin", "owner", "moderator"])
def test_site_admins_owners_and_moderators_list_the_pending_requests(request, role, pending):
    response = client_for(request.getfixturevalue(role)).get(REQUESTS)
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["id"], row["email"], row["display_name"], row["status"]) == (
        pending.pk,
        NEWCOMER,
        "New Comer",
        "pending",
    )
    assert row["list_id"] == "ant.example.com"


@pytest.mark.parametrize("role", ["member", "stranger"])
def test_members_and_strangers_see_no_request(request, role, pending):
    client = client_for(request.getfixturevalue(role))
    for response in (client.get(REQUESTS), client.get(f"{REQUESTS}{pending.pk}/")):
        assert response.status_code == 403
        assert NEWCOMER not in response.content.decode()
    assert client.post(f"{REQUESTS}{pending.pk}/approve/").status_code == 403
    assert not is_member()


def test_anonymous_callers_get_401(pending):
    assert client_for().get(REQUESTS).status_code == 401
    assert client_for().post(f"{REQUESTS}{pending.pk}/approve/").status_code == 401


def test_a_hidden_lists_requests_are_not_found_by_strangers(stranger, domain):
    create_list("secret@example.com", advertised=False)
    response = client_for(stranger).get(f"{API}/lists/secret.example.com/requests/")
    assert response.status_code == 404
    assert "message" in response.json()


def test_an_unknown_list_is_404_with_a_message(site_admin, db):
    response = client_for(site_admin).get(f"{API}/lists/nope.example.com/requests/")
    assert response.status_code == 404
    assert "nope.example.com" in response.json()["message"]


def test_a_request_is_not_found_under_another_list(site_admin, pending, domain):
    create_list("bee@example.com")
    assert client_for(site_admin).get(f"{API}/lists/bee.example.com/requests/{pending.pk}/").status_code == 404


def test_owner_approves_and_the_new_member_is_welcomed(owner, pending, smtp_sink, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(f"{REQUESTS}{pending.pk}/approve/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["decided_by"]) == ("approved", owner.get_username())
    assert is_member()
    [welcome] = smtp_sink.to(NEWCOMER)
    assert "Welcome" in str(welcome.message["Subject"])


def test_moderator_rejects_and_the_requester_is_told_the_reason(
    moderator, pending, smtp_sink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(moderator).post(f"{REQUESTS}{pending.pk}/reject/", {"reason": "Ants only."})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["decision_reason"]) == ("rejected", "Ants only.")
    assert not is_member()
    [refusal] = smtp_sink.to(NEWCOMER)
    assert "Ants only." in refusal.message.get_content()


def test_reject_without_a_body_gives_no_reason(owner, pending):
    response = client_for(owner).post(f"{REQUESTS}{pending.pk}/reject/")
    assert response.status_code == 200
    assert response.json()["decision_reason"] == ""


def test_a_deferred_request_stays_pending_and_is_marked_seen(owner, pending):
    response = client_for(owner).post(f"{REQUESTS}{pending.pk}/defer/")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["deferred_at"]
    assert [row["id"] for row in client_for(owner).get(REQUESTS).json()["results"]] == [pending.pk]


def test_the_second_decision_is_409_and_changes_nothing(owner, moderator, pending):
    assert client_for(owner).post(f"{REQUESTS}{pending.pk}/approve/").status_code == 200
    for verb in ("approve", "reject", "defer"):
        response = client_for(moderator).post(f"{REQUESTS}{pending.pk}/{verb}/")
        assert response.status_code == 409
        assert "already" in response.json()["message"]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.APPROVED


def test_approving_a_since_banned_address_is_400_keeps_it_pending_and_hides_the_ban(owner, mlist, pending):
    ban(None, r"^newcomer@example\.net$")
    response = client_for(owner).post(f"{REQUESTS}{pending.pk}/approve/")
    assert response.status_code == 400
    assert "may not subscribe" in response.json()["message"]
    assert "^" not in response.json()["message"]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING
    assert not is_member()


def test_decided_requests_are_listed_on_asking(owner, pending):
    client = client_for(owner)
    client.post(f"{REQUESTS}{pending.pk}/reject/", {"reason": "no"})
    assert client.get(REQUESTS).json()["count"] == 0
    assert [row["id"] for row in client.get(REQUESTS, {"status": "rejected"}).json()["results"]] == [pending.pk]


def test_decisions_are_announced_once(owner, pending, django_capture_on_commit_callbacks):
    decided, added = [], []
    events.subscription_request_decided.connect(lambda **kw: decided.append(kw["email"]), weak=False, dispatch_uid="a1")
    events.member_added.connect(lambda **kw: added.extend(kw["emails"]), weak=False, dispatch_uid="a2")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client_for(owner).post(f"{REQUESTS}{pending.pk}/approve/")
            client_for(owner).post(f"{REQUESTS}{pending.pk}/approve/")
    finally:
        events.subscription_request_decided.disconnect(dispatch_uid="a1")
        events.member_added.disconnect(dispatch_uid="a2")
    assert decided == added == [NEWCOMER]


def test_a_read_only_key_reads_but_cannot_decide(owner, pending):
    client = key_client(owner, scope="read")
    assert client.get(REQUESTS).status_code == 200
    assert client.post(f"{REQUESTS}{pending.pk}/approve/").status_code == 403
    assert not is_member()


@pytest.mark.parametrize(
    "body",
    [{"reason": "x", "colour": "red"}, {"reason": ["a", "b"]}, {"reason": None}, {"reason": "x" * 100_001}, [1, 2]],
)
def test_bad_reject_bodies_are_400_and_decide_nothing(owner, pending, body):
    response = client_for(owner).post(f"{REQUESTS}{pending.pk}/reject/", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING


def test_malformed_json_is_400(owner, pending):
    response = client_for(owner).post(
        f"{REQUESTS}{pending.pk}/reject/", '{"reason": "unfinished', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


@pytest.mark.parametrize("ref", ["99999999999999999999", "0", "-1", "abc", "1%00"])
def test_hostile_request_ids_are_404(owner, pending, ref):
    assert client_for(owner).post(f"{REQUESTS}{ref}/approve/").status_code == 404


def test_an_unknown_status_filter_is_400(owner, pending):
    response = client_for(owner).get(REQUESTS, {"status": "maybe"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]
