"""Nothing is lost when a worker is killed or the broker's queue is lost
mid-fan-out: real dramatiq worker processes on a real broker (TEST_BROKER_URL,
default Redis), the sink recording every recipient, the sweeper finishing."""

import time
from collections import Counter

import pytest

pytest.register_assert_rewrite("tests.delivery_support")
from tests.delivery_support import Workers, flush_broker, member_lines  # noqa: E402

pytest_plugins = ["tests.delivery_support"]

MEMBERS = 5000
BATCH_SIZE = 100
# Short enough that a dead worker's claim runs out within the test.
TIMING = {"DELIVERY_BATCH_SIZE": str(BATCH_SIZE), "DELIVERY_CLAIM_SECONDS": "3", "SWEEP_GRACE_SECONDS": "1"}

pytestmark = pytest.mark.slow


@pytest.fixture
def fan_out(project_database, test_broker, start_sink):
    """Start a personalized fan-out to MEMBERS members; the broker holds one message per batch."""
    sink = start_sink()
    env = {**TIMING, "BROKER_URL": test_broker, "SMTP_URL": sink.url}

    def start(list_name: str) -> dict:
        setup = project_database.json("setup", list_name, str(MEMBERS), "full", **env)
        assert setup == {"post": setup["post"], "recipients": MEMBERS, "batches": MEMBERS // BATCH_SIZE}
        return setup

    return project_database, sink, env, start


def wait_until(sink, recipients: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while (count := sink.status()["recipients"]) < recipients:
        assert time.monotonic() < deadline, f"sink counted only {count} recipients"
        time.sleep(0.01)
    return count


def sweep_until_delivered(database, sink, env, post_id: int, timeout: float = 90) -> dict:
    """Run `manage.py sweep` every second until the post has nothing pending."""
    deadline = time.monotonic() + timeout
    while True:
        report = database.json("report", str(post_id), **env)
        if report["pending"] == 0:
            sink.wait_for(MEMBERS)
            return report
        assert time.monotonic() < deadline, f"still pending after {timeout} s: {report}"
        database.run("manage", "sweep", **env)
        time.sleep(1)


def test_worker_killed_mid_fan_out_loses_nothing(fan_out):
    database, sink, env, start = fan_out
    post = start("killed")["post"]
    workers = Workers(database, threads=1, **env)
    try:
        at_kill = wait_until(sink, 1000)
        workers.kill()
    finally:
        workers.stop()
    assert at_kill < MEMBERS, "the fan-out finished before the kill; nothing was tested"
    workers = Workers(database, threads=2, **env)
    try:
        report = sweep_until_delivered(database, sink, env, post)
    finally:
        workers.stop()
    assert report["sent"] == MEMBERS and report["statuses"] == ["done"]
    copies = Counter(sink.recorded())
    assert set(copies) == set(member_lines(MEMBERS, "killed"))
    # Only the batch the killed worker held can have gone out twice.
    twice = [email for email, n in copies.items() if n > 1]
    assert max(copies.values()) <= 2 and len(twice) <= BATCH_SIZE


def test_broker_queue_flushed_mid_fan_out_is_finished_by_the_sweeper(fan_out, test_broker):
    database, sink, env, start = fan_out
    post = start("flushed")["post"]
    workers = Workers(database, threads=2, **env)
    try:
        wait_until(sink, 500)
        flush_broker(test_broker)
        at_flush = sink.status()["recipients"]
        assert at_flush < MEMBERS, "the fan-out finished before the flush; nothing was tested"
        report = sweep_until_delivered(database, sink, env, post)
    finally:
        workers.stop()
    assert report["sent"] == MEMBERS and report["statuses"] == ["done"]
    copies = Counter(sink.recorded())
    assert set(copies) == set(member_lines(MEMBERS, "flushed"))
    assert max(copies.values()) == 1


def test_queue_lost_before_any_worker_ran_is_finished_by_the_sweeper(fan_out, test_broker):
    database, sink, env, start = fan_out
    post = start("lost")["post"]
    flush_broker(test_broker)
    workers = Workers(database, threads=2, **env)
    try:
        time.sleep(1.5)
        assert sink.status()["recipients"] == 0
        report = sweep_until_delivered(database, sink, env, post)
    finally:
        workers.stop()
    assert report["sent"] == MEMBERS
    assert Counter(sink.recorded()) == Counter(member_lines(MEMBERS, "lost"))
