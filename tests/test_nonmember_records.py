"""Mailman's nonmember records: a post from an address the list does not know
gives it a nonmember membership, once, whose moderation action owners set."""

import threading

import pytest
from django.db import connection

from lists.models import Action
from lists.services import configure_list, create_list
from members.models import Address, Membership, Role
from members.services import subscribe, update_membership
from messages.delivery import recipient_snapshot
from messages.dispatch import process_inbound_message
from messages.models import HeldMessage, InboundMessage, InboundStatus
from messages.pipeline import get_rule
from messages.rules.nonmember_moderation import record_nonmember
from tests.inbound_mail import compose, deliver, receive, state_for

STRANGER = "stranger@example.net"


def nonmember_records(mlist, email: str = STRANGER):
    return Membership.objects.filter(mailing_list=mlist, role=Role.NONMEMBER, address__email=email)


def post_from(mlist, sender: str = STRANGER, **kwargs):
    return deliver(mlist, compose(sender=sender, **kwargs), mail_from=sender)


def test_a_strangers_post_gives_them_a_nonmember_record(mlist):
    assert post_from(mlist).status == InboundStatus.HELD
    record = nonmember_records(mlist).get()
    assert record.moderation_action == ""
    assert Address.objects.get(email=STRANGER).original_email == STRANGER


def test_the_record_reuses_an_address_the_site_knows(mlist):
    subscribe(create_list("bee@example.com"), STRANGER)
    post_from(mlist)
    assert Address.objects.filter(email=STRANGER).count() == 1
    assert nonmember_records(mlist).count() == 1


def test_more_posts_from_the_stranger_add_no_record(mlist):
    post_from(mlist)
    post_from(mlist)
    assert nonmember_records(mlist).count() == 1
    assert HeldMessage.objects.count() == 2


def test_checking_the_same_post_again_after_a_crash_adds_no_record(mlist):
    msg = compose(sender=STRANGER)
    rule = get_rule("nonmember-moderation")
    assert rule.check(mlist, msg, state_for(msg, mail_from=STRANGER))
    assert rule.check(mlist, msg, state_for(msg, mail_from=STRANGER))
    assert nonmember_records(mlist).count() == 1


def test_a_record_made_meanwhile_by_another_worker_is_no_error(mlist):
    # The other worker inserted between this worker's look-up and its insert.
    subscribe(mlist, STRANGER, role=Role.NONMEMBER)
    record_nonmember(mlist, STRANGER)
    assert nonmember_records(mlist).count() == 1


def test_a_members_post_makes_no_nonmember_record(mlist, member):
    assert post_from(mlist, "member@example.org").status == InboundStatus.ACCEPTED
    assert not Membership.objects.filter(role=Role.NONMEMBER).exists()


def test_an_owner_who_is_not_a_member_gets_a_nonmember_record(mlist, owner):
    post_from(mlist, owner.email)
    assert nonmember_records(mlist, owner.email).count() == 1


def test_the_record_is_per_list(mlist):
    bee = create_list("bee@example.com")
    post_from(mlist)
    assert not nonmember_records(bee).exists()


def test_only_the_first_sender_is_recorded(mlist):
    deliver(mlist, compose(sender=STRANGER, Sender="relay@example.com"), mail_from="bounce-1234@example.com")
    assert list(Membership.objects.filter(role=Role.NONMEMBER).values_list("address__email", flat=True)) == [STRANGER]


def test_a_sender_no_address_can_hold_is_moderated_without_a_record(mlist):
    sender = "x" * 250 + "@example.net"
    assert post_from(mlist, sender).status == InboundStatus.HELD
    assert not Membership.objects.filter(role=Role.NONMEMBER).exists()


# The record's moderation action


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (Action.ACCEPT, InboundStatus.ACCEPTED),
        (Action.DISCARD, InboundStatus.DISCARDED),
        (Action.HOLD, InboundStatus.HELD),
    ],
)
def test_the_action_owners_set_on_the_record_decides_the_next_post(mlist, action, status):
    configure_list(mlist, default_nonmember_action=Action.DISCARD if action == Action.HOLD else Action.HOLD)
    post_from(mlist)
    update_membership(nonmember_records(mlist).get(), moderation_action=action)
    assert post_from(mlist).status == status


def test_a_record_without_an_action_follows_the_lists_default(mlist):
    post_from(mlist)
    configure_list(mlist, default_nonmember_action=Action.DISCARD)
    assert post_from(mlist).status == InboundStatus.DISCARDED


def test_a_record_set_to_defer_leaves_the_post_to_the_other_rules(mlist):
    post_from(mlist)
    update_membership(nonmember_records(mlist).get(), moderation_action=Action.DEFER)
    assert post_from(mlist).status == InboundStatus.ACCEPTED
    assert post_from(mlist, subject=None).status == InboundStatus.HELD


def test_a_held_post_names_the_nonmember(mlist):
    post_from(mlist)
    held = HeldMessage.objects.get()
    assert held.sender == STRANGER
    assert held.reasons == ["The message is not from a list member"]


# A nonmember is no recipient


def test_a_nonmember_never_receives_posts(mlist, member):
    post_from(mlist)
    update_membership(nonmember_records(mlist).get(), moderation_action=Action.ACCEPT)
    assert post_from(mlist).status == InboundStatus.ACCEPTED
    assert recipient_snapshot(mlist) == ["member@example.org"]


# Concurrency


def run_at_once(count: int, target) -> list[BaseException]:
    """Run `target` in `count` threads released together; their exceptions."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_a_stranger_checked_by_many_workers_at_once_gets_one_record(domain):
    mlist = create_list("race@example.com")
    rule = get_rule("nonmember-moderation")
    for number in range(5):
        sender = f"stranger{number}@example.net"
        msg = compose(sender=sender, to=mlist.posting_address)
        errors = run_at_once(4, lambda msg=msg, sender=sender: rule.check(mlist, msg, state_for(msg, mail_from=sender)))
        assert errors == []
        assert Address.objects.filter(email=sender).count() == 1
        assert nonmember_records(mlist, sender).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_posts_from_one_stranger_processed_at_once_make_one_record(domain):
    mlist = create_list("race@example.com")
    ids = [receive(mlist, compose(sender=STRANGER, to=mlist.posting_address), mail_from=STRANGER).pk for _ in range(2)]
    queue = iter(ids)
    lock = threading.Lock()

    def process_one():
        with lock:
            inbound_id = next(queue)
        process_inbound_message(inbound_id)

    assert run_at_once(2, process_one) == []
    assert set(InboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {InboundStatus.HELD}
    assert nonmember_records(mlist).count() == 1
    assert Address.objects.filter(email=STRANGER).count() == 1
