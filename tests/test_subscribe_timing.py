"""A subscription request does the same work whatever the address: a new
one, a member, one already waiting for the owners. Each gets one token and
one confirmation mail, sent before the answer, so neither the answer nor
the time it takes tells who is subscribed. Not a timing test: it counts
the work (database queries, mails, tokens, what is left for after the
commit) that makes the time."""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import ConfirmationToken, Membership, SubscriptionRequest
from members.services import ban, subscribe
from members.workflows import request_subscription
from tests.api_callers import API, client_for
from tests.workflow_support import with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

SUBSCRIBE = "/lists/ant.example.com/subscribe/"
NEW, MEMBER, WAITING = "new@example.net", "member@example.net", "waiting@example.net"


@dataclass(frozen=True)
class Work:
    status: int
    answer: bytes
    queries: int
    after_commit: int
    tokens: int
    mailed: tuple[tuple[str, ...], ...]


@pytest.fixture
def roster(mlist, committed):
    """A member and a request waiting for the owners, on a moderated list."""
    with_policy(mlist, subscription_policy="moderate", admin_immed_notify=False)
    subscribe(mlist, MEMBER)
    committed(request_subscription, mlist, WAITING, pre_verified=True)
    return mlist


@pytest.fixture
def work_of(client, smtp_sink, django_capture_on_commit_callbacks):
    def measure(email: str) -> Work:
        mailed_before = len(smtp_sink.received)
        tokens_before = ConfirmationToken.objects.filter(email=email).count()
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=False) as callbacks,
        ):
            response = client.post(SUBSCRIBE, {"email": email})
        return Work(
            status=response.status_code,
            answer=response.content.replace(email.encode(), b"X"),
            queries=len(queries),
            after_commit=len(callbacks),
            tokens=ConfirmationToken.objects.filter(email=email).count() - tokens_before,
            mailed=tuple(tuple(mail.rcpt_tos) for mail in smtp_sink.received[mailed_before:]),
        )

    return measure


def test_new_member_and_waiting_addresses_do_the_same_work(roster, work_of):
    new, member, waiting = work_of(NEW), work_of(MEMBER), work_of(WAITING)
    assert new.status == 200
    assert (new.mailed, member.mailed, waiting.mailed) == (((NEW,),), ((MEMBER,),), ((WAITING,),))
    assert new.tokens == member.tokens == waiting.tokens == 1
    same = lambda work: (work.status, work.answer, work.queries, work.after_commit)  # noqa: E731
    assert same(new) == same(member) == same(waiting)


def test_the_mail_is_sent_before_the_answer_not_left_for_later(roster, work_of):
    # Nothing waits for the commit or a worker: the SMTP round trip is part
    # of every answer alike.
    assert work_of(NEW).after_commit == work_of(MEMBER).after_commit == 0


def test_a_mail_server_down_refuses_every_address_alike(roster, client, smtp_down):
    answers = {email: client.post(SUBSCRIBE, {"email": email}) for email in (NEW, MEMBER, WAITING)}
    assert {response.status_code for response in answers.values()} == {503}
    assert len({response.content.replace(email.encode(), b"X") for email, response in answers.items()}) == 1
    assert not ConfirmationToken.objects.exists()


def test_a_banned_address_gets_the_same_answer_but_no_mail(roster, work_of):
    ban(roster, "banned@example.net")
    banned, new = work_of("banned@example.net"), work_of(NEW)
    assert (banned.status, banned.answer) == (new.status, new.answer)
    assert (banned.mailed, banned.tokens) == ((), 0)


def confirm_link(smtp_sink, email: str) -> str:
    (url,) = re.findall(r"https?://\S+/confirm/\S+/", smtp_sink.to(email)[-1].message.get_content())
    return urlsplit(url).path


def test_the_members_confirmation_changes_nothing_and_says_subscribed(
    roster, client, smtp_sink, django_capture_on_commit_callbacks
):
    client.post(SUBSCRIBE, {"email": MEMBER})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(confirm_link(smtp_sink, MEMBER))
    assert response.status_code == 200
    assert b"You are subscribed" in response.content
    assert Membership.objects.filter(address__email=MEMBER).count() == 1
    assert not SubscriptionRequest.objects.filter(email=MEMBER).exists(), "no request for the owners"
    assert len(smtp_sink.to(MEMBER)) == 1, "no second welcome"


def test_the_waiting_requesters_confirmation_still_waits(roster, client, smtp_sink):
    client.post(SUBSCRIBE, {"email": WAITING})
    response = client.post(confirm_link(smtp_sink, WAITING))
    assert response.status_code == 200
    assert b"approval" in response.content
    assert SubscriptionRequest.objects.filter(email=WAITING).count() == 1


def test_a_confirmation_after_a_ban_just_does_not_work(roster, client, smtp_sink):
    client.post(SUBSCRIBE, {"email": NEW})
    ban(None, r"^new@")
    response = client.post(confirm_link(smtp_sink, NEW))
    assert response.status_code == 400
    assert b"^new" not in response.content
    assert not Membership.objects.filter(address__email=NEW).exists()


def test_the_api_mails_a_member_as_it_mails_a_new_address(roster, owner, smtp_sink):
    client = client_for(owner)
    for email in (NEW, MEMBER):
        response = client.post(f"{API}/lists/ant.example.com/members/", {"email": email, "pre_verified": False})
        assert response.status_code == 202
        assert response.json()["token"]
    assert [tuple(mail.rcpt_tos) for mail in smtp_sink.received] == [(NEW,), (MEMBER,)]
