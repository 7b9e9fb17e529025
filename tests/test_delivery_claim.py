"""Claiming delivery batches: one winner, expiry, and sending at most once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from members.services import bulk_subscribe
from messages.delivery import Claim, claim_batch, enqueue_post, record_results, send_batch
from messages.models import BatchStatus, DeliveryBatch, Post

pytest.register_assert_rewrite("tests.delivery_support")
from tests.delivery_support import corpus_message, member_lines  # noqa: E402

pytest_plugins = ["tests.delivery_support"]


@pytest.fixture
def batch(mlist) -> DeliveryBatch:
    bulk_subscribe(mlist, member_lines(10, "c"))
    post = Post.objects.create(mailing_list=mlist, sequence=1, raw=corpus_message("msg_01.txt"))
    enqueue_post(post)
    return post.batches.get()


def test_a_claimed_batch_cannot_be_claimed_again(batch):
    first = claim_batch(batch.pk)
    assert first is not None and first.status == BatchStatus.CLAIMED and first.attempts == 1
    assert claim_batch(batch.pk) is None


def test_a_batch_not_yet_due_is_not_claimed(batch):
    DeliveryBatch.objects.filter(pk=batch.pk).update(
        status=BatchStatus.RETRY, next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert claim_batch(batch.pk) is None


def test_a_done_batch_is_not_claimed(batch):
    DeliveryBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.DONE)
    assert claim_batch(batch.pk) is None


def test_an_expired_claim_is_taken_over_and_the_old_holder_cannot_record(batch):
    first = claim_batch(batch.pk)
    old_claim = Claim(first)
    DeliveryBatch.objects.filter(pk=batch.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    second = claim_batch(batch.pk)
    assert second is not None and second.attempts == 2
    # The first worker comes back from the dead: its results are not recorded.
    assert not record_results(first, old_claim, [], [], None)
    assert DeliveryBatch.objects.get(pk=batch.pk).status == BatchStatus.CLAIMED


@pytest.mark.django_db(transaction=True)
def test_of_many_concurrent_claimers_exactly_one_wins(domain):
    from lists.services import create_list

    mlist = create_list("race@example.com")
    bulk_subscribe(mlist, member_lines(5, "r"))
    post = Post.objects.create(mailing_list=mlist, sequence=1, raw=corpus_message("msg_01.txt"))
    enqueue_post(post)
    batch_id = post.batches.get().pk
    barrier = threading.Barrier(6)
    winners = []

    def claimer():
        try:
            barrier.wait()
            if claim_batch(batch_id) is not None:
                winners.append(threading.get_ident())
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert DeliveryBatch.objects.get(pk=batch_id).attempts == 1


def test_running_send_batch_twice_sends_once(batch, sink):
    send_batch(batch.pk)
    send_batch(batch.pk)
    sink.wait_for(10)
    assert sorted(sink.recorded()) == sorted(member_lines(10, "c"))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.sent_count) == (BatchStatus.DONE, 1, 10)
