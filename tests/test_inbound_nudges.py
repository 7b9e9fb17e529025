"""The receiver's nudges (messages.inbound.QueueingThread): sent from a
thread of its own after the 250, and for a list's posts at most one every
NUDGE_INTERVAL, one for each GROUP_SIZE posts that came meanwhile, naming
the list, so that a worker taking one takes a group of them."""

import pytest
from dramatiq import Message

from messages.inbound import GROUP_SIZE, QueueingThread
from tests.lmtp_client import use_stub_broker


@pytest.fixture
def inbound_queue(monkeypatch):
    return use_stub_broker(monkeypatch)


def sent(broker) -> list[list]:
    return [list(Message.decode(data).args) for data in list(broker.queues["inbound"].queue)]


@pytest.fixture
def slow_nudges():
    """A QueueingThread whose interval outlasts the test: a list's first
    post goes out at once, the others wait until it stops."""
    thread = QueueingThread(interval=3600)
    thread.start()
    yield thread
    thread.stop()


def test_a_lists_first_post_is_nudged_at_once(inbound_queue, slow_nudges):
    slow_nudges.put(7, 1)
    slow_nudges.wait_until_sent()

    assert sent(inbound_queue) == [[7, 1]]


def test_posts_that_come_within_the_interval_share_a_nudge_a_group(inbound_queue, slow_nudges):
    posts = list(range(100, 100 + 2 * GROUP_SIZE + 2))
    for inbound_id in posts:
        slow_nudges.put(inbound_id, 1)

    slow_nudges.stop()

    held = posts[1:]
    assert sent(inbound_queue) == [[posts[0], 1]] + [[held[i], 1] for i in range(0, len(held), GROUP_SIZE)]


def test_each_list_and_each_message_that_is_not_a_post_has_its_own_nudge(inbound_queue, slow_nudges):
    slow_nudges.put(1, 10)
    slow_nudges.put(2, 20)
    slow_nudges.put(3, None)
    slow_nudges.put(4, None)
    slow_nudges.wait_until_sent()

    assert sent(inbound_queue) == [[1, 10], [2, 20], [3, None], [4, None]]


def test_held_posts_are_nudged_when_the_interval_has_passed(inbound_queue):
    thread = QueueingThread(interval=0.05)
    thread.start()
    try:
        for inbound_id in (1, 2, 3):
            thread.put(inbound_id, 1)
        # Returns once every post's nudge went out: the held ones after the interval.
        thread.wait_until_sent()
    finally:
        thread.stop()

    assert sent(inbound_queue) == [[1, 1], [2, 1]]


def test_a_post_after_a_quiet_interval_is_nudged_at_once_again(inbound_queue):
    thread = QueueingThread(interval=0)
    thread.start()
    try:
        for inbound_id in (1, 2):
            thread.put(inbound_id, 1)
            thread.wait_until_sent()
    finally:
        thread.stop()

    assert sent(inbound_queue) == [[1, 1], [2, 1]]
