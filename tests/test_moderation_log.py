"""The moderation log: every decision on a held post or a subscription
request, from every interface, leaves one record saying who, what, when
and how; owners and moderators read it on the API."""

import pytest
from django.urls import reverse

from lists.services import configure_list, create_list
from members.models import Role, SubscriptionRequest
from members.services import subscribe
from members.workflows import request_subscription
from messages import moderation
from messages.models import HeldMessage, ModerationRecord
from messages.moderation_log import record
from tests.api_callers import API, client_for, make_moderator
from tests.conftest import make_user
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NONMEMBER = "outsider@example.net"
NEWCOMER = "newcomer@example.net"
LOG = f"{API}/lists/ant.example.com/moderation-log/"


@pytest.fixture
def held(mlist) -> HeldMessage:
    return deliver(mlist, compose(sender=NONMEMBER, subject="Let me in"), mail_from=NONMEMBER).held


@pytest.fixture
def pending(mlist, committed) -> SubscriptionRequest:
    configure_list(mlist, subscription_policy="moderate", admin_immed_notify=False)
    return committed(request_subscription, mlist, NEWCOMER, pre_verified=True).request


def only_record() -> ModerationRecord:
    [entry] = ModerationRecord.objects.all()
    return entry


def test_a_decision_through_the_api_is_logged_as_api(held, owner):
    client_for(owner).post(f"{API}/lists/ant.example.com/held/{held.pk}/discard/")
    entry = only_record()
    assert (entry.action, entry.actor, entry.via, entry.held_message, entry.subject) == (
        "discarded",
        owner,
        "api",
        held,
        "Let me in",
    )
    assert entry.actor_email == owner.email


def test_a_decision_in_django_admin_is_logged_as_admin(client, site_admin, held):
    client.force_login(site_admin)
    url = reverse("admin:mail_heldmessage_changelist")
    response = client.post(url, {"action": "discard", "_selected_action": [held.pk]})
    assert response.status_code == 302
    entry = only_record()
    assert (entry.action, entry.actor, entry.via) == ("discarded", site_admin, "admin")


def test_a_failed_decision_leaves_no_record(held, owner, smtp_down):
    with pytest.raises(moderation.NoticeNotSent):
        moderation.reject(held, owner, "No.")
    assert not ModerationRecord.objects.exists()


def test_a_second_decision_refused_leaves_no_second_record(held, owner):
    moderation.discard(held, owner)
    with pytest.raises(moderation.AlreadyDecided):
        moderation.approve(held, owner)
    assert ModerationRecord.objects.count() == 1


def test_the_record_outlives_the_held_post(held, owner):
    moderation.discard(held, owner)
    held.inbound.delete()
    entry = only_record()
    assert entry.held_message is None
    assert (entry.sender, entry.subject) == (NONMEMBER, "Let me in")


def test_an_unknown_via_is_refused(mlist):
    with pytest.raises(ValueError, match="via"):
        record(mlist, "approved", via="carrier pigeon")


@pytest.mark.parametrize(
    ("action", "expected"), [("approve", "approved"), ("reject", "rejected"), ("defer", "deferred")]
)
def test_subscription_decisions_on_the_page_are_logged(client, owner, pending, smtp_sink, action, expected):
    client.force_login(owner)
    client.post(f"/lists/ant.example.com/requests/{pending.pk}/", {"action": action, "reason": "Because."})
    entry = only_record()
    assert (entry.kind, entry.action, entry.sender, entry.actor, entry.via) == (
        "subscription",
        expected,
        NEWCOMER,
        owner,
        "web",
    )
    assert entry.reason == ("Because." if action == "reject" else "")


def test_subscription_decisions_through_the_api_are_logged_as_api(owner, pending):
    client_for(owner).post(f"{API}/lists/ant.example.com/requests/{pending.pk}/approve/")
    assert (only_record().kind, only_record().via) == ("subscription", "api")


def test_subscription_decisions_in_django_admin_are_logged_as_admin(client, site_admin, pending):
    client.force_login(site_admin)
    url = reverse("admin:members_subscriptionrequest_changelist")
    client.post(url, {"action": "reject", "_selected_action": [pending.pk]})
    assert (only_record().action, only_record().via) == ("rejected", "admin")


def test_owners_and_moderators_read_the_log_newest_first(mlist, owner, held):
    moderation.defer(held, owner)
    moderation.discard(held, owner)
    for user in (owner, make_moderator(mlist)):
        response = client_for(user).get(LOG)
        assert response.status_code == 200
        actions = [row["action"] for row in response.json()["results"]]
        assert actions == ["discarded", "deferred"]
    row = client_for(owner).get(LOG).json()["results"][0]
    assert (row["held_message"], row["sender"], row["actor"], row["via"], row["kind"]) == (
        held.pk,
        NONMEMBER,
        owner.username,
        "web",
        "post",
    )


def test_members_strangers_and_other_lists_moderators_may_not_read_the_log(mlist, domain, member, stranger, held):
    other = make_user("wasp-moderator@example.org")
    subscribe(create_list("wasp@example.com"), other.email, role=Role.MODERATOR)
    for user in (member, stranger, other):
        assert client_for(user).get(LOG).status_code == 403
    assert client_for().get(LOG).status_code == 401
    configure_list(mlist, advertised=False)
    assert client_for(other).get(LOG).status_code == 404


def test_the_log_is_read_only(owner, held):
    assert client_for(owner).post(LOG, {"action": "approved"}, format="json").status_code == 405
