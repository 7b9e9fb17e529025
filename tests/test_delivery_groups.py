"""messages.delivery.send_batches: several posts' batches sent by one
actor call (messages.tasks.deliver_batches), claimed together."""

import pytest

from members.services import bulk_subscribe
from messages.delivery import claim_batch, enqueue_post, send_batches
from messages.models import BatchStatus, DeliveryBatch, Post

pytest.register_assert_rewrite("tests.delivery_support")
from tests.delivery_support import corpus_message, member_lines  # noqa: E402

pytest_plugins = ["tests.delivery_support"]


@pytest.fixture
def batches(mlist) -> list[DeliveryBatch]:
    """One batch for each of three posts to a 3-member list."""
    bulk_subscribe(mlist, member_lines(3, "g"))
    posts = [
        Post.objects.create(mailing_list=mlist, sequence=sequence, raw=corpus_message("msg_01.txt"))
        for sequence in (1, 2, 3)
    ]
    for post in posts:
        enqueue_post(post)
    return [post.batches.get() for post in posts]


def test_several_posts_batches_are_sent_by_one_call(batches, smtpd):
    send_batches([batch.pk for batch in batches])
    assert smtpd.transactions == 3
    assert all(len(arrived.rcpt_tos) == 3 for arrived in smtpd.arrived)
    assert set(DeliveryBatch.objects.values_list("status", flat=True)) == {BatchStatus.DONE}
    assert set(DeliveryBatch.objects.values_list("sent_count", flat=True)) == {3}


def test_a_batch_another_worker_holds_is_left_to_it(batches, smtpd):
    assert claim_batch(batches[1].pk) is not None
    send_batches([batch.pk for batch in batches])
    assert smtpd.transactions == 2
    assert DeliveryBatch.objects.get(pk=batches[1].pk).status == BatchStatus.CLAIMED


def test_sending_again_sends_nothing_more(batches, smtpd):
    send_batches([batch.pk for batch in batches])
    send_batches([batch.pk for batch in batches])
    assert smtpd.transactions == 3
