"""Posts queued to one list are claimed and processed as a group by one
actor call (messages.dispatch.process_inbound_message), and their broker
messages go out together after the group (messages.nudges)."""

from copy import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

import archive.services
from archive.models import ArchivedMessage, ListArchive
from archive.tasks import archive_post, archive_posts
from lists.models import Action
from lists.services import create_list
from members.services import subscribe
from messages import dispatch, nudges
from messages.dispatch import GROUP_SIZE, process_inbound_message
from messages.models import Destination, InboundMessage, InboundStatus, Post
from messages.pipeline import Handler, register_handler, registry
from messages.tasks import deliver_batch, deliver_batches
from tests.inbound_mail import compose, receive
from tests.lmtp_client import queued_ids, use_stub_broker
from tests.test_archive_post_groups import posted

pytest_plugins = ["tests.mail_fixtures"]


@pytest.fixture
def pipeline_failing_on_bad_subjects(monkeypatch):
    registry.load_builtins()
    monkeypatch.setattr(registry, "HANDLERS", copy(registry.HANDLERS))

    @register_handler
    class FailOnBad(Handler):
        name = "fail-on-bad"
        description = "Fails on a post whose subject is 'bad'."

        def process(self, mlist, msg, state):
            if msg["Subject"] == "bad":
                raise ValueError("a bad post")

    monkeypatch.setattr(registry, "DEFAULT_PIPELINE", ["fail-on-bad", *registry.DEFAULT_PIPELINE])


@pytest.fixture
def sent_messages(monkeypatch) -> StubBroker:
    """A broker of the test's own for the delivery and archive actors."""
    broker = StubBroker()
    for queue in ("delivery", "archive"):
        broker.declare_queue(queue)
    for actor in (deliver_batch, deliver_batches, archive_post, archive_posts):
        monkeypatch.setattr(actor, "broker", broker)
    return broker


def sent(broker: StubBroker, queue: str) -> list[tuple[str, list]]:
    messages = [Message.decode(data) for data in list(broker.queues[queue].queue)]
    return [(message.actor_name, list(message.args)) for message in messages]


def statuses(rows: list[InboundMessage]) -> list[str]:
    return [InboundMessage.objects.get(pk=row.pk).status for row in rows]


def test_queued_posts_to_a_list_are_processed_by_one_actor_call_in_order(mlist, member):
    queued = [receive(mlist, compose(subject=f"post {n}")) for n in range(5)]
    process_inbound_message(queued[0].pk)
    assert statuses(queued) == [InboundStatus.ACCEPTED] * 5
    posts = Post.objects.order_by("sequence")
    assert [post.sequence for post in posts] == [1, 2, 3, 4, 5]
    assert [post.inbound_id for post in posts] == [row.pk for row in queued]


def test_the_other_posts_actor_calls_find_nothing_to_do_in_one_query(mlist, member, django_assert_num_queries):
    queued = [receive(mlist, compose()) for _ in range(3)]
    process_inbound_message(queued[0].pk)
    with django_assert_num_queries(1):
        process_inbound_message(queued[1].pk)
    assert InboundMessage.objects.get(pk=queued[1].pk).attempts == 1
    assert Post.objects.count() == 3


def test_a_bad_post_in_a_group_is_parked_and_the_others_are_posted_without_a_gap(
    mlist, member, pipeline_failing_on_bad_subjects
):
    queued = [receive(mlist, compose(subject=subject)) for subject in ("good", "bad", "also good")]
    process_inbound_message(queued[0].pk)
    assert statuses(queued) == [InboundStatus.ACCEPTED, InboundStatus.PARKED, InboundStatus.ACCEPTED]
    assert "ValueError: a bad post" in InboundMessage.objects.get(pk=queued[1].pk).error
    assert list(Post.objects.order_by("sequence").values_list("sequence", flat=True)) == [1, 2]


def test_a_group_holds_at_most_group_size_posts(mlist, member):
    queued = [receive(mlist, compose()) for _ in range(GROUP_SIZE + 2)]
    process_inbound_message(queued[0].pk)
    assert statuses(queued) == [InboundStatus.ACCEPTED] * GROUP_SIZE + [InboundStatus.QUEUED] * 2
    process_inbound_message(queued[-1].pk)
    assert statuses(queued) == [InboundStatus.ACCEPTED] * (GROUP_SIZE + 2)


def test_a_group_that_runs_long_puts_its_other_posts_back_in_the_queue(mlist, member, monkeypatch):
    inbound_queue = use_stub_broker(monkeypatch)
    monkeypatch.setattr(dispatch, "GROUP_SECONDS", -1)
    queued = [receive(mlist, compose()) for _ in range(3)]
    process_inbound_message(queued[0].pk)
    assert statuses(queued) == [InboundStatus.ACCEPTED, InboundStatus.QUEUED, InboundStatus.QUEUED]
    assert [InboundMessage.objects.get(pk=row.pk).attempts for row in queued[1:]] == [0, 0]
    assert queued_ids(inbound_queue) == [row.pk for row in queued[1:]]


def test_a_nudge_whose_post_another_group_took_takes_the_lists_queued_posts(mlist, member):
    queued = [receive(mlist, compose()) for _ in range(3)]
    # Another worker's group took the first post and is still at it.
    InboundMessage.objects.filter(pk=queued[0].pk).update(status=InboundStatus.PROCESSING)

    process_inbound_message(queued[0].pk, mlist.pk)

    assert statuses(queued) == [InboundStatus.PROCESSING, InboundStatus.ACCEPTED, InboundStatus.ACCEPTED]
    assert [post.inbound_id for post in Post.objects.order_by("sequence")] == [row.pk for row in queued[1:]]


def test_a_nudge_claims_its_lists_oldest_queued_posts_its_own_among_them_in_one_statement(mlist, member):
    queued = [receive(mlist, compose()) for _ in range(3)]

    with CaptureQueriesContext(connection) as queries:
        process_inbound_message(queued[-1].pk, mlist.pk)

    assert statuses(queued) == [InboundStatus.ACCEPTED] * 3
    assert [post.inbound_id for post in Post.objects.order_by("sequence")] == [row.pk for row in queued]
    claim = "UPDATE \"mail_inboundmessage\" SET status = 'processing', attempts = attempts + 1"
    assert len([query for query in queries if claim in query["sql"]]) == 1


def test_a_nudge_for_a_list_takes_at_most_a_group_of_its_queued_posts(mlist, member):
    queued = [receive(mlist, compose()) for _ in range(GROUP_SIZE + 1)]
    InboundMessage.objects.filter(pk=queued[0].pk).update(status=InboundStatus.PROCESSING)

    process_inbound_message(queued[0].pk, mlist.pk)

    assert statuses(queued[1:]) == [InboundStatus.ACCEPTED] * GROUP_SIZE


def test_a_groups_senders_are_looked_up_in_one_query_and_each_post_moderated_by_its_own(mlist, member):
    subscribe(mlist, "moderated@example.org", moderation_action=Action.HOLD)
    queued = [
        receive(mlist, compose(sender="member@example.org")),
        receive(mlist, compose(sender="moderated@example.org")),
        receive(mlist, compose(sender="member@example.org")),
    ]

    with CaptureQueriesContext(connection) as queries:
        process_inbound_message(queued[0].pk)

    assert statuses(queued) == [InboundStatus.ACCEPTED, InboundStatus.HELD, InboundStatus.ACCEPTED]
    assert len([query for query in queries if "membership.moderation_action" in query["sql"]]) == 1


def test_a_large_group_is_read_ahead_a_few_posts_at_a_time(mlist, member, monkeypatch):
    monkeypatch.setattr(dispatch, "READ_AHEAD", 2)
    claimed, parsed_at_once = [], []
    read_ahead = dispatch.read_ahead

    def counting(posts):
        read_ahead(posts)
        claimed.extend(posts)
        parsed_at_once.append(sum(getattr(row, "read_post", None) is not None for row in claimed))

    monkeypatch.setattr(dispatch, "read_ahead", counting)
    group = [receive(mlist, compose()) for _ in range(5)]

    with CaptureQueriesContext(connection) as queries:
        process_inbound_message(group[0].pk)

    assert statuses(group) == [InboundStatus.ACCEPTED] * 5
    # Senders looked up for posts 1-2, 3-4 and 5; the posts done with let go of their parsed message.
    assert len([query for query in queries if "membership.moderation_action" in query["sql"]]) == 3
    assert parsed_at_once == [2, 2, 1]


def test_a_group_whose_senders_cannot_be_looked_up_together_is_processed_post_by_post(mlist, member, monkeypatch):
    def lookup_fails(list_id, senders):
        raise OSError("connection lost")

    monkeypatch.setattr(dispatch, "moderation_actions", lookup_fails)
    queued = [receive(mlist, compose()) for _ in range(3)]

    process_inbound_message(queued[0].pk)

    assert statuses(queued) == [InboundStatus.ACCEPTED] * 3


def test_a_post_that_cannot_be_read_ahead_fails_alone_where_it_is_processed(mlist, member, monkeypatch):
    find_senders = dispatch.find_senders

    def fails_on_bad(msg, mail_from):
        if msg["Subject"] == "bad":
            raise ValueError("a bad header")
        return find_senders(msg, mail_from)

    monkeypatch.setattr(dispatch, "find_senders", fails_on_bad)
    queued = [receive(mlist, compose(subject=subject)) for subject in ("good", "bad", "also good")]

    process_inbound_message(queued[0].pk)

    assert statuses(queued) == [InboundStatus.ACCEPTED, InboundStatus.PARKED, InboundStatus.ACCEPTED]
    assert "ValueError: a bad header" in InboundMessage.objects.get(pk=queued[1].pk).error


def test_a_group_leaves_other_lists_and_other_destinations_to_their_own_actors(mlist, member):
    other = create_list("bee@example.com")
    first = receive(mlist, compose())
    elsewhere = receive(other, compose(to="bee@example.com"))
    to_owner = receive(mlist, compose(), destination=Destination.OWNER)
    process_inbound_message(first.pk)
    assert statuses([first, elsewhere, to_owner]) == [
        InboundStatus.ACCEPTED,
        InboundStatus.QUEUED,
        InboundStatus.QUEUED,
    ]


def test_a_post_queued_again_after_a_passing_failure_waits_for_the_sweeper(mlist, member):
    first = receive(mlist, compose())
    retried = receive(mlist, compose())
    InboundMessage.objects.filter(pk=retried.pk).update(nudged_at=timezone.now(), error="SendError: down")
    process_inbound_message(first.pk)
    assert statuses([first, retried]) == [InboundStatus.ACCEPTED, InboundStatus.QUEUED]


def test_a_message_that_is_not_a_post_is_processed_alone(mlist, member):
    to_owner = receive(mlist, compose(), destination=Destination.OWNER)
    post = receive(mlist, compose())
    process_inbound_message(to_owner.pk)
    assert InboundMessage.objects.get(pk=to_owner.pk).status != InboundStatus.QUEUED
    assert InboundMessage.objects.get(pk=post.pk).status == InboundStatus.QUEUED


def archived(posts: list[Post]) -> list[bool]:
    """For each post, whether the archive holds it as it was stored."""
    messages = {message.post_id: bytes(message.raw) for message in ArchivedMessage.objects.all()}
    return [messages.get(post.pk) == bytes(post.raw) for post in posts]


@pytest.mark.django_db(transaction=True)
def test_a_group_sends_its_batches_together_and_archives_its_posts_itself(mlist, member, sent_messages):
    queued = [receive(mlist, compose()) for _ in range(3)]
    process_inbound_message(queued[0].pk)
    posts = list(Post.objects.order_by("sequence"))
    assert sent(sent_messages, "delivery") == [("deliver_batches", [[post.batches.get().pk for post in posts]])]
    assert sent(sent_messages, "archive") == []
    assert archived(posts) == [True, True, True]
    assert ListArchive.objects.get(mailing_list=mlist).message_count == 3


@pytest.mark.django_db(transaction=True)
def test_from_the_first_post_beyond_what_a_group_holds_on_its_posts_go_to_the_archive_queue(
    mlist, member, sent_messages, monkeypatch
):
    monkeypatch.setattr(nudges, "HELD_BYTES", 4000)
    queued = [receive(mlist, compose(body=body)) for body in ("Short.\n", "Long. " * 1000 + "\n", "Short.\n")]
    process_inbound_message(queued[0].pk)
    posts = list(Post.objects.order_by("sequence"))
    assert archived(posts) == [True, False, False]
    assert sent(sent_messages, "archive") == [("archive_posts", [[post.pk for post in posts[1:]]])]


@pytest.mark.django_db(transaction=True)
def test_posts_a_group_could_not_archive_go_to_the_archive_queue(mlist, member, sent_messages, monkeypatch):
    def disk_full(posts):
        raise OSError("disk full")

    monkeypatch.setattr(archive.services, "archive_new_posts", disk_full)
    queued = [receive(mlist, compose()) for _ in range(2)]
    process_inbound_message(queued[0].pk)
    post_ids = list(Post.objects.order_by("sequence").values_list("pk", flat=True))
    assert statuses(queued) == [InboundStatus.ACCEPTED] * 2
    assert sent(sent_messages, "archive") == [("archive_posts", [post_ids])]


@pytest.mark.django_db(transaction=True)
def test_a_group_cut_short_leaves_its_posts_to_the_archive_queue(mlist, member, sent_messages):
    [post] = posted(mlist, [b"Message-ID: <cut@x>\n\nA post.\n"])
    with pytest.raises(KeyboardInterrupt), nudges.grouped():
        nudges.archive(post)
        raise KeyboardInterrupt
    assert sent(sent_messages, "archive") == [("archive_post", [post.pk])]
    assert archived([post]) == [False]


@pytest.mark.django_db(transaction=True)
def test_a_post_processed_alone_sends_its_own_batch_and_is_archived_too(mlist, member, sent_messages):
    inbound = receive(mlist, compose())
    process_inbound_message(inbound.pk)
    post = Post.objects.get()
    assert sent(sent_messages, "delivery") == [("deliver_batch", [post.batches.get().pk])]
    assert archived([post]) == [True]


@pytest.mark.django_db(transaction=True)
def test_a_post_accepted_outside_a_group_goes_to_the_archive_queue(mlist, member, sent_messages):
    [post] = posted(mlist, [b"Message-ID: <alone@x>\n\nA post.\n"])
    nudges.archive(post)
    assert sent(sent_messages, "archive") == [("archive_post", [post.pk])]
