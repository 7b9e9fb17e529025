"""The sweeper re-sends the broker messages of lost work, and only of lost work."""

import io
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from dramatiq import Message

from mailman_site.broker import broker
from members.services import bulk_subscribe
from messages.delivery import enqueue_post
from messages.dispatch import claim
from messages.models import BatchStatus, DeliveryBatch, InboundMessage, InboundStatus, Post
from messages.sweeper import sweep

pytest.register_assert_rewrite("tests.delivery_support")
from tests.delivery_support import BASE_DIR, corpus_message, member_lines  # noqa: E402

pytest_plugins = ["tests.delivery_support"]


@pytest.fixture(autouse=True)
def empty_stub_broker():
    broker.flush_all()
    yield
    broker.flush_all()


def queued(queue_name: str) -> list[int]:
    return [Message.decode(data).args[0] for data in list(broker.queues[queue_name].queue)]


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def batches(mlist, settings) -> list[DeliveryBatch]:
    settings.DELIVERY_BATCH_SIZE = 1
    bulk_subscribe(mlist, member_lines(5, "s"))
    post = Post.objects.create(mailing_list=mlist, sequence=1, raw=corpus_message("msg_01.txt"))
    enqueue_post(post)
    return list(post.batches.order_by("pk"))


def set_batch(batch: DeliveryBatch, **fields) -> None:
    DeliveryBatch.objects.filter(pk=batch.pk).update(**fields)


def test_lost_batches_are_nudged_once_per_grace_period(batches):
    pending, retry_due, retry_later, expired, held = batches[:5]
    set_batch(pending, updated_at=ago(120))
    set_batch(retry_due, status=BatchStatus.RETRY, next_attempt_at=ago(1), updated_at=ago(120))
    set_batch(retry_later, status=BatchStatus.RETRY, next_attempt_at=ago(-60), updated_at=ago(120))
    set_batch(expired, status=BatchStatus.CLAIMED, claimed_until=ago(1), updated_at=ago(400))
    set_batch(held, status=BatchStatus.CLAIMED, claimed_until=ago(-60), updated_at=ago(400))
    assert sweep().batches == 3
    assert sorted(queued("delivery")) == sorted([pending.pk, retry_due.pk, expired.pk])
    # Their messages are now in the queue: the next pass leaves them alone.
    assert sweep().batches == 0


def test_fresh_and_finished_batches_are_left_alone(batches):
    set_batch(batches[0], status=BatchStatus.DONE, updated_at=ago(120))
    assert sweep().batches == 0
    assert queued("delivery") == []


def make_inbound(received_seconds_ago: float, status: str = InboundStatus.QUEUED) -> InboundMessage:
    inbound = InboundMessage.objects.create(
        destination="post", rcpt_to="ant@example.com", raw=b"x", size=1, digest="0" * 64, status=status
    )
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=ago(received_seconds_ago))
    return inbound


def test_inbound_messages_still_queued_after_the_grace_period_are_nudged(db):
    old = make_inbound(120)
    make_inbound(5)
    make_inbound(120, status=InboundStatus.ACCEPTED)
    assert sweep().inbound == 1
    assert queued("inbound") == [old.pk]
    assert sweep().inbound == 0


def test_inbound_message_whose_worker_died_is_nudged_and_taken_over(db):
    stuck = make_inbound(900, status=InboundStatus.PROCESSING)
    InboundMessage.objects.filter(pk=stuck.pk).update(claimed_until=ago(1))
    working = make_inbound(900, status=InboundStatus.PROCESSING)
    InboundMessage.objects.filter(pk=working.pk).update(claimed_until=ago(-60))
    assert sweep().inbound == 1
    assert queued("inbound") == [stuck.pk]
    assert claim(stuck.pk) is not None
    assert claim(working.pk) is None


def test_sweep_command_prints_counts(batches):
    set_batch(batches[0], updated_at=ago(120))
    out = io.StringIO()
    call_command("sweep", stdout=out)
    assert (
        out.getvalue().strip()
        == "re-sent 1 delivery batch(es), 0 inbound message(s), 0 post(s) to archive, 0 archived message(s) to index"
    )


def test_sweep_loop_stops_cleanly_on_sigterm(project_database):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sweep", "--loop", "--interval", "0.2"],
        cwd=BASE_DIR,
        env=project_database.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()
    assert first.startswith("re-sent 0 delivery batch(es)")
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
