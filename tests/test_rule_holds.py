"""The rules whose hits are collected and then hold the post together:
administrivia, implicit-dest, max-recipients, max-size and no-subject."""

import pytest

from lists.services import configure_list
from messages.models import HeldMessage, InboundStatus
from messages.pipeline import get_rule
from tests.inbound_mail import compose, deliver, state_for


def hits(mlist, rule: str, msg, **state) -> bool:
    return get_rule(rule).check(mlist, msg, state_for(msg, **state))


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("unsubscribe", "Hi.\n"),
        ("Hello", "\n\nsubscribe\n"),
        ("Hello", "help\n"),
        ("confirm 0123abcd", "Thanks.\n"),
        ("Hello", "One.\nTwo.\n" + "set digest plain on\n"),
    ],
)
def test_email_commands_sent_to_the_posting_address_are_administrivia(mlist, subject, body):
    assert hits(mlist, "administrivia", compose(subject=subject, body=body))


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Help with my ant farm", "Hi.\n"),
        ("Hello", "subscribe me to the newsletter please, I beg you\n"),
        ("Hello", "\n".join(f"line {n}" for n in range(10)) + "\nunsubscribe\n"),
    ],
)
def test_ordinary_posts_are_not_administrivia(mlist, subject, body):
    assert not hits(mlist, "administrivia", compose(subject=subject, body=body))


def test_the_administrivia_check_can_be_turned_off(mlist):
    configure_list(mlist, administrivia=False)
    assert not hits(mlist, "administrivia", compose(subject="unsubscribe"))


def test_a_post_that_does_not_name_the_list_is_held(mlist, member):
    inbound = deliver(mlist, compose(to="friends@example.org"))
    assert inbound.status == InboundStatus.HELD
    assert HeldMessage.objects.get().reasons == ["Message has implicit destination"]


def test_the_list_in_cc_is_explicit_enough(mlist):
    assert not hits(mlist, "implicit-dest", compose(to="friends@example.org", Cc="Ants <ANT@example.com>"))


@pytest.mark.parametrize("alias", ["ants@example.org", "^ants?@example\\.(org|net)$"])
def test_an_acceptable_alias_is_explicit_enough(mlist, alias):
    configure_list(mlist, acceptable_aliases=f"other@example.org\n{alias}\n")
    assert not hits(mlist, "implicit-dest", compose(to="ants@example.org"))


def test_a_malformed_alias_pattern_matches_nothing(mlist):
    configure_list(mlist, acceptable_aliases="^[broken\n")
    assert hits(mlist, "implicit-dest", compose(to="broken@example.org"))


def test_implicit_destinations_are_fine_when_the_list_does_not_require_explicit_ones(mlist):
    configure_list(mlist, require_explicit_destination=False)
    assert not hits(mlist, "implicit-dest", compose(to="friends@example.org"))


def test_a_post_with_as_many_recipients_as_the_limit_is_held(mlist):
    configure_list(mlist, max_num_recipients=3)
    msg = compose(to="ant@example.com, a@example.org", Cc="b@example.org")
    state = state_for(msg)
    assert get_rule("max-recipients").check(mlist, msg, state)
    assert state.reasons == ["The message has 3 or more recipients"]


def test_a_post_with_fewer_recipients_than_the_limit_passes(mlist):
    configure_list(mlist, max_num_recipients=3)
    assert not hits(mlist, "max-recipients", compose(to="ant@example.com", Cc="b@example.org"))


def test_no_recipient_limit_when_it_is_zero(mlist):
    configure_list(mlist, max_num_recipients=0)
    to = ", ".join(f"r{n}@example.org" for n in range(50))
    assert not hits(mlist, "max-recipients", compose(to=to))


def test_a_post_over_the_size_limit_is_held(mlist, member):
    configure_list(mlist, max_message_size=1)
    inbound = deliver(mlist, compose(body="x" * 2000 + "\n"))
    assert inbound.status == InboundStatus.HELD
    assert HeldMessage.objects.get().reasons == ["The message's size exceeds the list's limit of 1 KB"]


def test_a_post_at_the_size_limit_passes(mlist):
    configure_list(mlist, max_message_size=1)
    assert not hits(mlist, "max-size", compose(), size=1024)
    assert hits(mlist, "max-size", compose(), size=1025)


def test_no_size_limit_when_it_is_zero(mlist):
    configure_list(mlist, max_message_size=0)
    assert not hits(mlist, "max-size", compose(), size=10**9)


@pytest.mark.parametrize("subject", [None, "", "   ", "=?utf-8?q??="])
def test_a_post_without_subject_is_held(mlist, subject):
    assert hits(mlist, "no-subject", compose(subject=subject))


def test_a_post_with_a_subject_passes(mlist):
    assert not hits(mlist, "no-subject", compose(subject="Ants"))


def test_every_hold_reason_is_collected_before_the_post_is_held(mlist, member):
    configure_list(mlist, max_message_size=1)
    inbound = deliver(mlist, compose(subject=None, to="friends@example.org", body="unsubscribe\n" + "x" * 2000))
    assert inbound.status == InboundStatus.HELD
    assert HeldMessage.objects.get().reasons == [
        "Message contains administrivia",
        "Message has implicit destination",
        "The message's size exceeds the list's limit of 1 KB",
        "The message has no subject",
    ]
