"""Archiving accepted posts (through the pipeline, the archive_post actor and
the sweeper) and what is kept of each message, whatever it holds."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from archive.models import ArchivedMessage, ArchiveNudge, Attachment, Thread
from archive.reading import content_message_id, message_id_hash
from archive.services import archive_message, archive_stored_post
from archive.tasks import archive_post
from lists.models import ArchivePolicy
from mailman_site.broker import broker
from messages.models import Post
from messages.sweeper import ARCHIVE_SWEEP_WINDOW, sweep
from tests.inbound_mail import compose, corpus_message, deliver

pytest_plugins = ["tests.mail_fixtures"]


@pytest.fixture
def archive_queue(monkeypatch) -> StubBroker:
    """A fresh in-process broker for the archive_post actor."""
    stub = StubBroker()
    stub.declare_queue("archive")
    monkeypatch.setattr(archive_post, "broker", stub)
    return stub


def queued_post_ids(stub) -> list[int]:
    return [Message.decode(data).args[0] for data in list(stub.queues["archive"].queue)]


def run_archive_queue(stub) -> None:
    """Run each archive_post message in the queue, as a worker would."""
    while not stub.queues["archive"].empty():
        archive_post(*Message.decode(stub.queues["archive"].get()).args)


def test_an_accepted_post_is_archived_by_the_actor_after_commit(
    mlist, member, archive_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        inbound = deliver(mlist, compose(subject="Ants at work", body="They carry leaves.\n"))
    post = inbound.post
    assert queued_post_ids(archive_queue) == [post.pk]
    run_archive_queue(archive_queue)
    archived = ArchivedMessage.objects.get(post=post)
    assert archived.subject.endswith("Ants at work")
    assert archived.sender_address == "member@example.org"
    assert archived.body.startswith("They carry leaves.\n")
    assert bytes(archived.raw) == bytes(post.raw)
    assert archived.message_id_hash == message_id_hash(archived.message_id)
    assert archived.thread.message_count == 1


def test_the_actor_run_twice_archives_once(mlist, member, archive_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post = deliver(mlist, compose()).post
    archive_post(post.pk)
    archive_post(post.pk)
    assert ArchivedMessage.objects.filter(post=post).count() == 1


def test_a_list_that_is_not_archived_archives_nothing(mlist, member, archive_queue, django_capture_on_commit_callbacks):
    mlist.archive_policy = ArchivePolicy.NEVER
    mlist.save()
    with django_capture_on_commit_callbacks(execute=True):
        post = deliver(mlist, compose()).post
    assert queued_post_ids(archive_queue) == []
    assert archive_stored_post(post.pk) is None
    assert not ArchivedMessage.objects.exists()


def test_nothing_is_sent_to_the_archive_before_the_commit(mlist, member, archive_queue):
    deliver(mlist, compose())
    assert queued_post_ids(archive_queue) == []


def test_two_posts_under_one_message_id_are_both_kept(mlist):
    raw = corpus_message("msg_01.txt")
    first = Post.objects.create(mailing_list=mlist, sequence=1, raw=raw)
    second = Post.objects.create(mailing_list=mlist, sequence=2, raw=raw + b"\nP.S. again\n")
    archive_stored_post(first.pk)
    archive_stored_post(second.pk)
    assert ArchivedMessage.objects.get(post=first).message_id == "15090.61304.110929.45684@aaa.zzz.org"
    assert ArchivedMessage.objects.get(post=second).message_id.endswith("@archive.invalid")


def test_an_imported_message_is_linked_to_its_post_when_it_arrives(mlist):
    raw = corpus_message("msg_01.txt")
    imported = archive_message(mlist, raw).message
    post = Post.objects.create(mailing_list=mlist, sequence=1, raw=raw)
    assert archive_stored_post(post.pk).pk == imported.pk
    assert ArchivedMessage.objects.count() == 1


# The sweeper


@pytest.fixture
def empty_stub_broker():
    broker.flush_all()
    yield
    broker.flush_all()


def old_post(mlist, seconds: float, sequence: int = 1) -> Post:
    post = Post.objects.create(mailing_list=mlist, sequence=sequence, raw=corpus_message("msg_01.txt"))
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))
    return post


def swept_to_archive() -> list[int]:
    return [Message.decode(data).args[0] for data in list(broker.queues["archive"].queue)]


def test_the_sweeper_resends_a_post_left_unarchived(mlist, empty_stub_broker):
    lost = old_post(mlist, 120)
    old_post(mlist, 5, sequence=2)
    assert sweep().archive == 1
    assert swept_to_archive() == [lost.pk]
    # Its message waits in the queue: the next pass leaves it alone.
    assert sweep().archive == 0
    archive_post(lost.pk)
    assert ArchivedMessage.objects.filter(post=lost).exists()
    assert not ArchiveNudge.objects.exists()


def test_the_sweeper_nudges_again_after_the_grace_period(mlist, empty_stub_broker):
    lost = old_post(mlist, 300)
    assert sweep().archive == 1
    ArchiveNudge.objects.update(nudged_at=timezone.now() - timedelta(seconds=120))
    assert sweep().archive == 1
    assert swept_to_archive() == [lost.pk, lost.pk]


def test_the_sweeper_leaves_archived_unarchivable_and_old_posts_alone(mlist, domain, empty_stub_broker):
    archive_stored_post(old_post(mlist, 120).pk)
    old_post(mlist, ARCHIVE_SWEEP_WINDOW.total_seconds() + 60, sequence=2)
    mlist.archive_policy = ArchivePolicy.NEVER
    mlist.save()
    old_post(mlist, 120, sequence=3)
    assert sweep().archive == 0


# What is kept of a message


def test_attachments_are_kept_with_their_type_and_bytes(mlist):
    archived = archive_message(mlist, corpus_message("msg_07.txt")).message
    assert archived.body.startswith("Hi there,\n\nThis is the dingus fish.")
    attachments = list(archived.attachments.order_by("counter"))
    assert [(a.counter, a.content_type) for a in attachments][:1] == [(1, "image/gif")]
    assert attachments[0].filename == "dingusfish.gif"
    assert bytes(attachments[0].content).startswith(b"GIF87a")
    assert attachments[0].size == len(bytes(attachments[0].content))


def test_an_html_only_message_is_shown_as_text(mlist):
    msg = compose(body="x")
    msg.set_content("<html><body><p>Queen <b>ant</b></p><script>alert(1)</script></body></html>", subtype="html")
    archived = archive_message(mlist, bytes(msg)).message
    assert "Queen ant" in archived.body
    assert "<" not in archived.body
    assert "alert" not in archived.body
    assert not Attachment.objects.exists()


def test_an_attached_message_is_one_attachment(mlist):
    archived = archive_message(mlist, corpus_message("msg_46.txt")).message
    attachment = archived.attachments.get()
    assert attachment.content_type == "message/rfc822"
    assert b"4B66B890.4070408@teconcept.de" in bytes(attachment.content)


def test_the_date_header_is_used_when_believable(mlist):
    archived = archive_message(mlist, corpus_message("msg_07.txt")).message
    assert archived.date == datetime(2001, 4, 20, 23, 35, 2, tzinfo=UTC)


@pytest.mark.parametrize("date", ["Fri, 01 Jan 9999 00:00:00 +0000", "yesterday", "Thu, 01 Jan 1901 00:00:00 +0000"])
def test_an_unbelievable_date_gives_way_to_the_receipt_time(mlist, date):
    received = datetime(2024, 5, 1, tzinfo=UTC)
    raw = f"From: a@example.org\r\nDate: {date}\r\nSubject: x\r\n\r\nx\r\n".encode()
    assert archive_message(mlist, raw, received_at=received).message.date == received


def test_a_message_without_message_id_gets_one_from_its_content(mlist):
    raw = b"From: a@example.org\nSubject: no id\n\nHello.\n"
    first = archive_message(mlist, raw)
    again = archive_message(mlist, raw.replace(b"\n", b"\r\n") + b"\r\n")
    assert first.message.message_id == content_message_id(raw)
    assert not again.created


# Hostile input: kept, never raised


def test_binary_junk_is_kept_as_a_broken_message(mlist):
    junk = bytes(range(256)) * 40
    archived = archive_message(mlist, junk).message
    assert archived.is_broken
    assert archived.error
    assert bytes(archived.raw) == junk
    assert Thread.objects.get().message_count == 1


def test_huge_headers_are_clipped_for_display_and_kept_whole(mlist):
    subject = "ant " * 250_000
    raw = f"From: {'x' * 5000} <a@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{'m' * 5000}@x>\r\n"
    raw += f"References: {' '.join(f'<r{n}@x>' for n in range(5000))}\r\n\r\nbody\r\n"
    archived = archive_message(mlist, raw.encode()).message
    assert len(archived.subject) <= 1000
    assert len(archived.sender_name) <= 255
    assert archived.references.count(" ") == 63
    assert len(bytes(archived.raw)) == len(raw)
    assert not archived.is_broken


def test_wrong_charsets_and_nul_bytes_are_read_leniently(mlist):
    raw = (
        b"From: =?x-unknown?q?Ant=E9?= <a@example.org>\r\n"
        b"Subject: =?utf-8?b?!!notbase64?= caf\xe9\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"caf\xc3\xa9 \xff\x00 end\r\n"
    )
    archived = archive_message(mlist, raw).message
    assert not archived.is_broken
    assert archived.body.startswith("caf\u00e9 \ufffd")
    assert "\x00" not in archived.body + archived.subject + archived.sender_name
    assert archived.sender_address == "a@example.org"


def test_deeply_nested_multiparts_do_not_exhaust_the_stack(mlist):
    depth = 2000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(depth))
    raw = ("From: a@example.org\r\nSubject: deep\r\n" + head + "Content-Type: text/plain\r\n\r\ndeep text\r\n").encode()
    archived = archive_message(mlist, raw).message
    assert archived.pk is not None
