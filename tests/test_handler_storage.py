"""to-archive stores the post under the list's next number; to-outgoing hands it to delivery."""

import pytest
from django.db import connection

from lists.models import MailingList
from members.services import subscribe
from messages.dispatch import process_inbound_message
from messages.models import DeliveryBatch, InboundMessage, InboundStatus, Post
from messages.pipeline import PostState, registry
from messages.pipeline.mime import parse_message
from messages.pipeline.storing import stage, stage_delivery, store_staged
from tests.inbound_mail import compose, deliver, receive

only_on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL stores a post with one statement; SQLite with several"
)


def test_an_accepted_post_is_stored_once_as_it_was_sent(mlist, member):
    inbound = deliver(mlist, compose(subject="Queens", body="Long live the queen.\n"))
    post = Post.objects.get()
    assert post.inbound == inbound
    assert post.mailing_list == mlist
    assert (post.sequence, post.sender, post.subject) == (1, "member@example.org", "[ant] Queens")
    assert post.message_id == inbound.message_id
    stored = parse_message(bytes(post.raw))
    assert stored["List-Id"] == "Ant <ant.example.com>"
    assert "Long live the queen." in stored.get_content()
    assert b"\r\n" in bytes(post.raw) and b"\n" not in bytes(post.raw).replace(b"\r\n", b"")


def test_posts_are_numbered_one_after_the_other(mlist, member):
    for _ in range(3):
        deliver(mlist, compose())
    mlist.refresh_from_db()
    assert list(Post.objects.order_by("pk").values_list("sequence", flat=True)) == [1, 2, 3]
    assert mlist.next_post_id == 4


def test_held_and_discarded_posts_take_no_number(mlist, member):
    deliver(mlist, compose(sender="outsider@example.net"), mail_from="outsider@example.net")
    deliver(mlist, compose(X_BeenThere="ant@example.com"))
    deliver(mlist, compose())
    assert Post.objects.get().sequence == 1


def test_the_post_goes_to_delivery_for_every_member(mlist, member):
    subscribe(mlist, "worker@example.net")
    deliver(mlist, compose())
    post = Post.objects.get()
    assert post.recipient_count == 2
    assert sorted(email for batch in DeliveryBatch.objects.filter(post=post) for email in batch.recipient_list) == [
        "member@example.org",
        "worker@example.net",
    ]


def test_the_post_is_stored_and_its_inbound_row_marked_accepted_together(mlist, member):
    inbound = deliver(mlist, compose())

    inbound.refresh_from_db()
    assert (inbound.status, inbound.error) == (InboundStatus.ACCEPTED, "")
    assert inbound.processed_at is not None
    assert Post.objects.get().inbound == inbound


def test_a_pipeline_that_stores_no_post_still_marks_the_row_accepted(mlist, member, monkeypatch):
    registry.load_builtins()
    without_storage = [name for name in registry.DEFAULT_PIPELINE if name not in ("to-archive", "to-outgoing")]
    monkeypatch.setattr(registry, "DEFAULT_PIPELINE", without_storage)

    inbound = deliver(mlist, compose())

    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.ACCEPTED
    assert not Post.objects.exists()


@only_on_postgresql
@pytest.mark.django_db(transaction=True)
def test_with_nothing_written_before_it_the_post_is_stored_by_one_statement_of_its_own(mlist, member):
    subscribe(mlist, "worker@example.net")
    inbound = receive(mlist, compose())
    post_inserts = []

    def watch(execute, sql, params, many, context):
        if f'INSERT INTO "{Post._meta.db_table}"' in sql:
            post_inserts.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        process_inbound_message(inbound.pk)

    [(statement, in_transaction)] = post_inserts
    assert not in_transaction
    assert DeliveryBatch._meta.db_table in statement and InboundMessage._meta.db_table in statement
    inbound.refresh_from_db()
    post = Post.objects.get()
    assert (inbound.status, post.sequence, post.recipient_count) == (InboundStatus.ACCEPTED, 1, 2)
    assert sum(batch.recipient_count for batch in DeliveryBatch.objects.filter(post=post)) == 2


@only_on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_post_whose_list_is_gone_is_not_stored_and_its_inbound_row_stays_processing(mlist, member):
    inbound = receive(mlist, compose())
    InboundMessage.objects.filter(pk=inbound.pk).update(status=InboundStatus.PROCESSING)
    gone = MailingList(pk=mlist.pk + 1000, list_name="gone", domain=mlist.domain)
    state = PostState(inbound_id=inbound.pk, senders=["member@example.org"], inbound_to_finish=inbound.pk)
    stage(state, gone, Post(mailing_list=gone, inbound=inbound, sender="member@example.org", raw=b"Subject: x\r\n\r\n"))
    stage_delivery(state)

    with pytest.raises(MailingList.DoesNotExist):
        store_staged(state)

    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.PROCESSING
    assert not Post.objects.exists() and not DeliveryBatch.objects.exists()


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@only_on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_statements_a_post_takes_are_prepared_once_on_the_connection(mlist, member):
    for _ in range(3):
        process_inbound_message(receive(mlist, compose()).pk)

    stored = [statement for statement in prepared_statements() if f'INSERT INTO "{Post._meta.db_table}"' in statement]
    assert len(stored) == 1
    assert Post.objects.count() == 3


@only_on_postgresql
@pytest.mark.django_db(transaction=True)
def test_behind_a_pooler_that_cannot_keep_them_nothing_is_prepared(mlist, member):
    connection.close()  # a fresh session, with nothing prepared by an earlier test
    connection.ensure_connection()
    connection.connection.prepare_threshold = None  # DATABASE_PREPARED_STATEMENTS=off
    try:
        for _ in range(2):
            process_inbound_message(receive(mlist, compose()).pk)
        assert prepared_statements() == []
        assert Post.objects.count() == 2
    finally:
        connection.close()
