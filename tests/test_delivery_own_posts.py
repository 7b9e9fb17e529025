"""Members who turned off receive_own_postings get no copy of their own
posts (Mailman's behaviour): they are left out of the recipient snapshot."""

from lists.models import Action
from members.models import Membership, Role
from members.services import subscribe, update_membership
from messages.delivery import recipient_snapshot
from messages.models import DeliveryBatch, InboundStatus
from tests.inbound_mail import compose, deliver


def accepting(mlist):
    mlist.default_member_action = Action.ACCEPT
    mlist.save()
    return mlist


def recipients_of(inbound) -> list[str]:
    batches = DeliveryBatch.objects.filter(post__inbound=inbound)
    return sorted(email for batch in batches for email in batch.recipient_list)


def not_receiving_own_posts(mlist, email: str) -> Membership:
    membership = subscribe(mlist, email)
    return update_membership(membership, receive_own_postings=False)


def test_sender_who_turned_off_own_posts_gets_no_copy(mlist):
    accepting(mlist)
    not_receiving_own_posts(mlist, "poster@example.org")
    subscribe(mlist, "reader@example.org")

    inbound = deliver(mlist, compose(sender="Poster <Poster@Example.org>"), mail_from="poster@example.org")

    assert inbound.status == InboundStatus.ACCEPTED
    assert recipients_of(inbound) == ["reader@example.org"]
    assert inbound.post.recipient_count == 1


def test_sender_who_keeps_own_posts_gets_a_copy(mlist):
    accepting(mlist)
    subscribe(mlist, "poster@example.org")
    subscribe(mlist, "reader@example.org")

    inbound = deliver(mlist, compose(sender="poster@example.org"), mail_from="poster@example.org")

    assert recipients_of(inbound) == ["poster@example.org", "reader@example.org"]


def test_the_setting_only_concerns_the_members_own_posts(mlist):
    accepting(mlist)
    subscribe(mlist, "poster@example.org")
    not_receiving_own_posts(mlist, "reader@example.org")

    inbound = deliver(mlist, compose(sender="poster@example.org"), mail_from="poster@example.org")

    assert recipients_of(inbound) == ["poster@example.org", "reader@example.org"]


def test_the_snapshot_without_a_sender_leaves_nobody_out(mlist):
    not_receiving_own_posts(mlist, "poster@example.org")
    subscribe(mlist, "poster@example.org", role=Role.OWNER)

    assert recipient_snapshot(mlist) == ["poster@example.org"]
    assert recipient_snapshot(mlist, "poster@example.org") == []
