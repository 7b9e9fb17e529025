"""Confirmation tokens: single use, bound to list and action, expiring, stored hashed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lists.services import create_list
from members.models import ConfirmationToken, TokenAction
from members.tokens import InvalidToken, consume, digest, issue, purge
from members.workflows import Status, accept_invitation, confirm, request_subscription
from tests.workflow_support import token_of

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NEWCOMER = "newcomer@example.net"


def test_only_the_tokens_digest_is_stored(mlist):
    issued = issue(mlist, NEWCOMER, TokenAction.SUBSCRIBE)
    row = ConfirmationToken.objects.get()
    assert row.digest == digest(issued.token)
    assert issued.token not in {row.digest, str(row.data)}
    assert len(issued.token) == 32


def test_a_token_is_used_once(mlist):
    issued = issue(mlist, NEWCOMER, TokenAction.SUBSCRIBE)
    assert consume(issued.token).email == NEWCOMER
    with pytest.raises(InvalidToken):
        consume(issued.token)


def test_a_token_is_read_in_any_case(mlist):
    issued = issue(mlist, NEWCOMER, TokenAction.SUBSCRIBE)
    assert consume(issued.token.upper()).email == NEWCOMER


def test_a_replayed_token_confirms_nothing(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER)
    token = token_of(smtp_sink.to(NEWCOMER)[0])
    assert committed(confirm, token).status == Status.SUBSCRIBED
    assert committed(confirm, token).status == Status.INVALID_TOKEN


def test_an_expired_token_confirms_nothing(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER)
    token = token_of(smtp_sink.to(NEWCOMER)[0])
    ConfirmationToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert committed(confirm, token).status == Status.INVALID_TOKEN
    assert not mlist.memberships.filter(address__email=NEWCOMER).exists()


def test_tokens_expire_after_the_lists_setting(mlist):
    mlist.confirmation_expiry_days = 7
    before = timezone.now()
    row = issue(mlist, NEWCOMER, TokenAction.SUBSCRIBE).row
    assert timedelta(days=7) <= row.expires_at - before < timedelta(days=7, minutes=1)


def test_the_default_expiry_is_three_days(mlist):
    assert mlist.confirmation_expiry_days == 3


def test_a_token_for_another_list_is_refused(mlist, smtp_sink, committed):
    other = create_list("bee@example.com")
    committed(request_subscription, mlist, NEWCOMER)
    token = token_of(smtp_sink.to(NEWCOMER)[0])
    assert committed(confirm, token, mlist=other).status == Status.INVALID_TOKEN
    # Refused, not used up: it still works on its own list.
    assert committed(confirm, token, mlist=mlist).status == Status.SUBSCRIBED


def test_a_token_for_another_action_is_refused(mlist, smtp_sink, committed):
    committed(request_subscription, mlist, NEWCOMER)
    token = token_of(smtp_sink.to(NEWCOMER)[0])
    assert committed(accept_invitation, token).status == Status.INVALID_TOKEN


def flip_last(token: str) -> str:
    return token[:-1] + ("b" if token.endswith("a") else "a")


@pytest.mark.parametrize("tamper", [flip_last, lambda token: token[:-1], lambda token: token + "a"])
def test_a_tampered_token_is_refused(mlist, tamper):
    issued = issue(mlist, NEWCOMER, TokenAction.SUBSCRIBE)
    with pytest.raises(InvalidToken):
        consume(tamper(issued.token))
    assert ConfirmationToken.objects.get().used_at is None


@pytest.mark.parametrize("garbage", ["", " ", "../../etc", "a" * 1000, "ü" * 32, "\x00" * 32])
def test_garbage_is_an_invalid_token_not_an_error(db, garbage):
    assert confirm(garbage).status == Status.INVALID_TOKEN


def test_purge_deletes_used_and_expired_tokens(mlist):
    used = issue(mlist, "a@example.net", TokenAction.SUBSCRIBE)
    consume(used.token)
    issue(mlist, "b@example.net", TokenAction.SUBSCRIBE)
    ConfirmationToken.objects.filter(email="b@example.net").update(expires_at=timezone.now())
    live = issue(mlist, "c@example.net", TokenAction.SUBSCRIBE)
    assert purge() == 2
    assert list(ConfirmationToken.objects.values_list("digest", flat=True)) == [digest(live.token)]
