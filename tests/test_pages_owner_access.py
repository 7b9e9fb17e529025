"""Who may open a list's management pages: owners and site admins all of
them, moderators the roster and the requests, anyone else nothing, and
nobody learns anything from being refused."""

import re

import pytest
from django.test import Client

from lists.services import configure_list, create_list
from members.models import Ban, Membership, Role, SubscriptionRequest
from members.services import ban, link_address, subscribe
from members.workflows import request_subscription
from tests.conftest import logged_in, make_user

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

LIST = "/lists/ant.example.com"
OWNER_ONLY = [
    f"{LIST}/bans/",
    f"{LIST}/invite/",
    f"{LIST}/mass-subscribe/",
    f"{LIST}/mass-unsubscribe/",
    f"{LIST}/templates/",
    f"{LIST}/templates/welcome/",
    f"{LIST}/settings/moderation/",
    f"{LIST}/settings/filters/",
]
MODERATOR_TOO = [
    f"{LIST}/roster/",
    f"{LIST}/roster/export/",
    f"{LIST}/requests/",
    f"{LIST}/held/",
    f"{LIST}/moderation-log/",
]
ALL_PAGES = MODERATOR_TOO + OWNER_ONLY


@pytest.fixture
def unverified_owner(mlist):
    """A user whose only link to an owner address is unverified."""
    user = make_user("claimant@example.org")
    subscribe(mlist, "boss@example.org", role=Role.OWNER)
    link_address(user, "boss@example.org")
    return user


@pytest.mark.parametrize("path", ALL_PAGES)
def test_owners_open_every_page(owner, path):
    assert logged_in(owner).get(path).status_code == 200


@pytest.mark.parametrize("path", ALL_PAGES)
def test_site_admins_open_every_page(site_admin, mlist, path):
    assert logged_in(site_admin).get(path).status_code == 200


@pytest.mark.parametrize("path", MODERATOR_TOO)
def test_moderators_open_the_roster_and_the_requests(moderator, path):
    assert logged_in(moderator).get(path).status_code == 200


@pytest.mark.parametrize("path", OWNER_ONLY)
def test_moderators_may_not_run_the_list(moderator, path):
    assert logged_in(moderator).get(path).status_code == 403


@pytest.mark.parametrize("path", ALL_PAGES)
@pytest.mark.parametrize("who", ["member", "stranger", "other_owner", "unverified_owner"])
def test_everyone_else_is_refused(request, owner, path, who):
    response = logged_in(request.getfixturevalue(who)).get(path)
    assert response.status_code == 403
    assert "owner@example.org" not in response.content.decode()


@pytest.mark.parametrize("path", ALL_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, mlist, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", ALL_PAGES)
def test_a_list_the_user_cannot_see_is_not_found(stranger, mlist, path):
    configure_list(mlist, advertised=False)
    response = logged_in(stranger).get(path)
    assert response.status_code == 404
    unknown = logged_in(stranger).get(path.replace("ant.example.com", "nope.example.com"))
    assert without_csrf_token(response.content) == without_csrf_token(unknown.content)


def without_csrf_token(content: bytes) -> bytes:
    # The token is masked anew on every page.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


@pytest.mark.parametrize("path", ALL_PAGES)
def test_an_unknown_list_is_404_for_owners_too(owner, path):
    assert logged_in(owner).get(path.replace("ant.example.com", "nope.example.com")).status_code == 404


@pytest.fixture
def pending(mlist, committed):
    configure_list(mlist, subscription_policy="moderate")
    return committed(request_subscription, mlist, "newcomer@example.net", pre_verified=True).request


@pytest.mark.parametrize("who", ["member", "stranger", "anonymous"])
def test_nobody_else_decides_requests_or_lifts_bans(request, mlist, owner, member, pending, who):
    client = Client() if who == "anonymous" else logged_in(request.getfixturevalue(who))
    lifted = ban(mlist, "spammer@example.net")
    client.post(f"{LIST}/requests/{pending.pk}/", {"action": "approve"})
    client.post(f"{LIST}/bans/{lifted.pk}/lift/")
    client.post(f"{LIST}/bans/", {"pattern": "^.*$"})
    client.post(f"{LIST}/mass-unsubscribe/", {"addresses": "member@example.org"})
    client.post(f"{LIST}/mass-subscribe/", {"addresses": "intruder@example.net"})
    assert SubscriptionRequest.objects.get(pk=pending.pk).status == "pending"
    assert list(Ban.objects.values_list("email", flat=True)) == ["spammer@example.net"]
    assert Membership.objects.filter(address__email="member@example.org").exists()
    assert not Membership.objects.filter(address__email="intruder@example.net").exists()


def test_a_request_of_another_list_is_not_found(owner, domain, committed):
    bee = create_list("bee@example.com", subscription_policy="moderate")
    other = committed(request_subscription, bee, "newcomer@example.net", pre_verified=True).request
    response = logged_in(owner).post(f"{LIST}/requests/{other.pk}/", {"action": "approve"})
    assert response.status_code == 404
    assert SubscriptionRequest.objects.get(pk=other.pk).status == "pending"


def test_a_ban_of_another_list_is_not_found(owner, domain):
    other = ban(create_list("bee@example.com"), "spammer@example.net")
    assert logged_in(owner).post(f"{LIST}/bans/{other.pk}/lift/").status_code == 404
    assert Ban.objects.filter(pk=other.pk).exists()


POSTS = [
    (f"{LIST}/bans/", {"pattern": "spammer@example.net"}),
    (f"{LIST}/invite/", {"email": "friend@example.net"}),
    (f"{LIST}/mass-subscribe/", {"addresses": "new@example.net"}),
    (f"{LIST}/mass-unsubscribe/", {"addresses": "member@example.org"}),
    (f"{LIST}/templates/welcome/", {"text": "Hello $user_email"}),
]


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_posts_without_the_csrf_token_are_refused(owner, member, smtp_sink, path, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(path, data).status_code == 403
    assert not Ban.objects.exists()
    assert not Membership.objects.filter(address__email="new@example.net").exists()
    assert Membership.objects.filter(address__email="member@example.org").exists()
    assert not smtp_sink.received


def test_deciding_without_the_csrf_token_is_refused(owner, pending):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"{LIST}/requests/{pending.pk}/", {"action": "approve"}).status_code == 403
    assert SubscriptionRequest.objects.get(pk=pending.pk).status == "pending"


def test_the_pages_are_linked_from_the_list_page_for_those_who_may_open_them(client, owner, mlist):
    client.force_login(owner)
    content = client.get(f"{LIST}/").content.decode()
    for path in [f"{LIST}/roster/", f"{LIST}/requests/", f"{LIST}/bans/", f"{LIST}/templates/"]:
        assert f'href="{path}"' in content


def test_the_list_page_shows_no_management_links_to_members(client, member, mlist):
    client.force_login(member)
    content = client.get(f"{LIST}/").content.decode()
    assert f"{LIST}/bans/" not in content
    assert f"{LIST}/roster/" not in content
    assert 'href="/subscriptions/"' in content


def test_moderators_see_only_their_pages_in_the_menu(moderator):
    content = logged_in(moderator).get(f"{LIST}/requests/").content.decode()
    assert f'href="{LIST}/roster/"' in content
    assert f"{LIST}/bans/" not in content
    assert f"{LIST}/mass-subscribe/" not in content
