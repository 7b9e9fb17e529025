"""Two moderators deciding on the same held post at the same moment, in two
threads with their own database connections: one decision wins, the other
is told it came second, and the post is posted at most once."""

import threading

import pytest
from django.db import connection

from messages import moderation
from messages.models import HeldMessage, HeldStatus, ModerationRecord, Post
from tests.inbound_mail import compose, deliver

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.mail_fixtures"]

NONMEMBER = "outsider@example.net"


def race(*decisions) -> list[str]:
    """Run each decision in its own thread, all released at once; what each ended in."""
    barrier = threading.Barrier(len(decisions))
    outcomes: list[str] = [""] * len(decisions)

    def run(number: int, decide) -> None:
        try:
            barrier.wait()
            decide()
            outcomes[number] = "done"
        except moderation.AlreadyDecided:
            outcomes[number] = "already decided"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, decide)) for n, decide in enumerate(decisions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_an_approval_and_a_discard_at_once_decide_once(mlist, owner, member):
    held = deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER).held
    first, second = HeldMessage.objects.get(pk=held.pk), HeldMessage.objects.get(pk=held.pk)
    outcomes = race(lambda: moderation.approve(first, owner), lambda: moderation.discard(second, owner))
    assert sorted(outcomes) == ["already decided", "done"]
    held.refresh_from_db()
    assert held.status in (HeldStatus.APPROVED, HeldStatus.DISCARDED)
    assert Post.objects.count() == (1 if held.status == HeldStatus.APPROVED else 0)
    assert ModerationRecord.objects.count() == 1


def test_two_approvals_at_once_post_once(mlist, owner, member):
    held = deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER).held
    copies = [HeldMessage.objects.get(pk=held.pk) for _ in range(2)]
    outcomes = race(*(lambda copy=copy: moderation.approve(copy, owner) for copy in copies))
    assert sorted(outcomes) == ["already decided", "done"]
    assert Post.objects.count() == 1
