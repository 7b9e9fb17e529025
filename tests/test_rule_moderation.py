"""The rules that decide at once: no-senders, emergency, loop, banned-address,
member-moderation and nonmember-moderation."""

import pytest

from lists.models import Action
from lists.services import configure_list, create_list
from members.models import Membership, Role
from members.services import ban, subscribe, update_membership
from messages.models import HeldMessage, InboundStatus
from messages.pipeline import get_rule
from tests.inbound_mail import compose, deliver, state_for

NONMEMBER = "outsider@example.net"


def test_a_message_without_any_sender_is_discarded(mlist):
    msg = compose(sender="undisclosed-recipients:;")
    inbound = deliver(mlist, msg, mail_from="")
    assert inbound.status == InboundStatus.DISCARDED


def test_emergency_moderation_holds_even_member_posts(mlist, member):
    configure_list(mlist, emergency=True)
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.HELD
    assert HeldMessage.objects.get().reasons == ["Emergency moderation is in effect for this list"]


def test_without_emergency_the_rule_misses(mlist):
    msg = compose()
    assert not get_rule("emergency").check(mlist, msg, state_for(msg))


def test_post_with_our_x_beenthere_is_discarded(mlist, member):
    inbound = deliver(mlist, compose(X_BeenThere="ant@example.com"))
    assert inbound.status == InboundStatus.DISCARDED


def test_post_with_our_list_id_is_discarded(mlist, member):
    inbound = deliver(mlist, compose(List_Id="Ants <ant.example.com>"))
    assert inbound.status == InboundStatus.DISCARDED


def test_another_lists_x_beenthere_and_list_id_are_no_loop(mlist):
    msg = compose(X_BeenThere="bee@example.com", List_Id="<bee.example.com>")
    assert not get_rule("loop").check(mlist, msg, state_for(msg))


@pytest.mark.parametrize("pattern", ["member@example.org", "^member@.*"])
def test_post_from_a_banned_address_is_discarded(mlist, member, pattern):
    ban(mlist, pattern)
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.DISCARDED


def test_a_site_wide_ban_applies_to_every_list(mlist, member):
    ban(None, "member@example.org")
    assert deliver(mlist, compose()).status == InboundStatus.DISCARDED


def test_a_banned_envelope_sender_is_caught_too(mlist, member):
    ban(mlist, "bouncer@example.net")
    inbound = deliver(mlist, compose(), mail_from="bouncer@example.net")
    assert inbound.status == InboundStatus.DISCARDED


def test_a_ban_on_another_list_does_not_apply(mlist, member):
    ban(create_list("bee@example.com"), "member@example.org")
    assert deliver(mlist, compose()).status == InboundStatus.ACCEPTED


def test_member_post_is_accepted_by_default(mlist, member):
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.ACCEPTED


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (Action.HOLD, InboundStatus.HELD),
        (Action.DISCARD, InboundStatus.DISCARDED),
        (Action.ACCEPT, InboundStatus.ACCEPTED),
    ],
)
def test_a_members_own_moderation_action_decides(mlist, member, action, status):
    update_membership(Membership.objects.get(role=Role.MEMBER), moderation_action=action)
    assert deliver(mlist, compose()).status == status


def test_the_lists_default_member_action_applies_to_members_without_their_own(mlist, member):
    configure_list(mlist, default_member_action=Action.HOLD)
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.HELD
    assert HeldMessage.objects.get().reasons == ["The message comes from a moderated member"]


def test_a_moderated_members_accept_skips_the_hold_rules(mlist, member):
    update_membership(Membership.objects.get(role=Role.MEMBER), moderation_action=Action.ACCEPT)
    inbound = deliver(mlist, compose(subject=None, to="someone@example.org"))
    assert inbound.status == InboundStatus.ACCEPTED


def test_nonmember_post_is_held(mlist):
    inbound = deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER)
    assert inbound.status == InboundStatus.HELD
    held = HeldMessage.objects.get()
    assert held.sender == NONMEMBER
    assert held.reasons == ["The message is not from a list member"]


@pytest.mark.parametrize(
    ("action", "status"),
    [(Action.DISCARD, InboundStatus.DISCARDED), (Action.ACCEPT, InboundStatus.ACCEPTED)],
)
def test_the_lists_default_nonmember_action_decides(mlist, action, status):
    configure_list(mlist, default_nonmember_action=action)
    assert deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER).status == status


def test_a_nonmember_record_with_its_own_action_overrides_the_default(mlist):
    subscribe(mlist, NONMEMBER, role=Role.NONMEMBER, moderation_action=Action.ACCEPT)
    assert deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER).status == InboundStatus.ACCEPTED


def test_an_owner_who_is_not_a_member_is_moderated_as_a_nonmember(mlist, owner):
    # As in Mailman 3: roles other than member do not make posts from that address members' posts.
    msg = compose(sender=owner.email)
    assert get_rule("nonmember-moderation").check(mlist, msg, state_for(msg))


def test_a_member_among_the_senders_makes_the_nonmember_rule_miss(mlist, member):
    msg = compose(sender=NONMEMBER, Sender="member@example.org")
    assert not get_rule("nonmember-moderation").check(mlist, msg, state_for(msg))
