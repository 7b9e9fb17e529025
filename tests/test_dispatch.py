"""messages.dispatch.process_inbound_message: claim, dispatch by destination, park on failure."""

from concurrent.futures import ThreadPoolExecutor
from copy import copy

import pytest
from django.db import connection

from lists.models import Action
from members.models import Membership, Role
from members.services import subscribe, update_membership
from messages.dispatch import TEMPORARY_FAILURE_ATTEMPTS, claim, describe_error, process_inbound_message
from messages.models import Destination, InboundMessage, InboundStatus, Post
from messages.pipeline import Handler, register_handler, registry
from tests.inbound_mail import CORPUS, compose, corpus_message, deliver, receive

pytest_plugins = ["tests.mail_fixtures"]


@pytest.fixture
def crashing_pipeline(monkeypatch):
    """A pipeline whose first handler fails, as a bug in a plugin would."""
    registry.load_builtins()
    monkeypatch.setattr(registry, "HANDLERS", copy(registry.HANDLERS))

    @register_handler
    class Crash(Handler):
        name = "crash"
        description = "Fails."

        def process(self, mlist, msg, state):
            # Exceptions may quote hostile input, NUL included.
            raise ValueError("the handler broke on \x00")

    monkeypatch.setattr(registry, "DEFAULT_PIPELINE", ["crash", *registry.DEFAULT_PIPELINE])


@pytest.fixture
def moderator(mlist):
    return subscribe(mlist, "moderator@example.org", role=Role.MODERATOR)


def test_a_post_becomes_a_post_with_the_next_number(mlist, member):
    first = deliver(mlist, compose(subject="one"))
    second = deliver(mlist, compose(subject="two"))
    assert (first.status, second.status) == (InboundStatus.ACCEPTED, InboundStatus.ACCEPTED)
    assert first.post.sequence == 1
    assert second.post.sequence == 2
    assert second.processed_at is not None
    assert second.attempts == 1


def test_running_twice_processes_once(mlist, member):
    inbound = deliver(mlist, compose())
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.attempts == 1
    assert Post.objects.count() == 1


def test_a_message_another_worker_is_processing_is_not_claimed(mlist, member):
    inbound = receive(mlist, compose())
    assert claim(inbound.pk) is not None
    assert claim(inbound.pk) is None
    process_inbound_message(inbound.pk)
    assert not Post.objects.exists()


def test_a_crash_parks_the_message_with_its_error(mlist, member, crashing_pipeline):
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.PARKED
    assert inbound.error.startswith("ValueError: the handler broke on \n")
    assert "test_dispatch.py" in inbound.error
    assert not Post.objects.exists()
    mlist.refresh_from_db()
    assert mlist.next_post_id == 1


def test_an_error_quoting_undecodable_bytes_is_stored_readable():
    assert describe_error(ValueError("caf\udce9")) == "ValueError: caf\ufffd"


def test_a_parked_message_is_processed_when_retried(mlist, member, crashing_pipeline, monkeypatch):
    inbound = deliver(mlist, compose())
    monkeypatch.setattr(registry, "DEFAULT_PIPELINE", registry.DEFAULT_PIPELINE[1:])
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    assert (inbound.status, inbound.error, inbound.attempts) == (InboundStatus.ACCEPTED, "", 2)
    assert Post.objects.get().sequence == 1


def test_a_message_that_cannot_be_parsed_is_parked(mlist, member, monkeypatch):
    def broken_parser(self, data, headersonly=False):
        raise IndexError("parser bug")

    monkeypatch.setattr("email.parser.BytesParser.parsebytes", broken_parser)
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.PARKED
    assert "could not be parsed" in inbound.error


def test_a_message_for_a_deleted_list_is_parked(mlist, member):
    inbound = receive(mlist, compose())
    inbound.mailing_list = None
    inbound.save()
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.PARKED
    assert "no longer exists" in inbound.error


@pytest.mark.parametrize(
    "destination",
    [Destination.BOUNCES],
)
def test_other_destinations_are_kept_as_not_handled(mlist, destination):
    inbound = deliver(mlist, compose(), destination=destination)
    assert inbound.status == InboundStatus.NOT_HANDLED
    assert not Post.objects.exists()


def test_owner_mail_is_forwarded_to_owners_and_moderators(mlist, owner, moderator, member, smtp_sink):
    raw = corpus_message("msg_07.txt")
    inbound = deliver(mlist, raw, destination=Destination.OWNER, mail_from="someone@example.net")
    assert inbound.status == InboundStatus.FORWARDED
    [forward] = smtp_sink.received
    assert forward.mail_from == "ant-bounces@example.com"
    assert sorted(forward.rcpt_tos) == ["moderator@example.org", "owner@example.org"]
    assert forward.data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_owner_mail_for_a_list_without_owners_is_parked(mlist, smtp_sink):
    inbound = deliver(mlist, compose(), destination=Destination.OWNER)
    assert inbound.status == InboundStatus.PARKED
    assert "no owners or moderators" in inbound.error
    assert not smtp_sink.received


def test_owner_mail_waits_in_the_queue_while_the_smtp_server_is_down(mlist, owner, smtp_down):
    inbound = deliver(mlist, compose(), destination=Destination.OWNER)
    assert (inbound.status, inbound.attempts) == (InboundStatus.QUEUED, 1)
    assert inbound.error.startswith("SendError: SMTP 127.0.0.1:")


def test_owner_mail_goes_out_once_the_smtp_server_is_back(mlist, owner, smtp_sink, smtp_down, settings):
    inbound = deliver(mlist, compose(), destination=Destination.OWNER)
    settings.EMAIL_PORT = smtp_sink.port
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    assert (inbound.status, inbound.error, inbound.attempts) == (InboundStatus.FORWARDED, "", 2)
    assert len(smtp_sink.received) == 1


def test_owner_mail_is_parked_after_the_last_temporary_failure(mlist, owner, smtp_down):
    inbound = receive(mlist, compose(), destination=Destination.OWNER)
    inbound.attempts = TEMPORARY_FAILURE_ATTEMPTS - 1
    inbound.save()
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.PARKED
    assert "SendError" in inbound.error


def test_owner_mail_the_smtp_server_refuses_for_good_is_parked(mlist, owner, smtp_sink):
    smtp_sink.rcpt_reply = "550 5.1.1 No such user"
    inbound = deliver(mlist, compose(), destination=Destination.OWNER)
    assert inbound.status == InboundStatus.PARKED
    assert "No such user" in inbound.error


def test_a_reject_notice_reaches_the_sender(mlist, member, smtp_sink):
    update_membership(Membership.objects.get(role=Role.MEMBER), moderation_action=Action.REJECT)
    inbound = deliver(mlist, compose(subject="My rejected post"))
    assert inbound.status == InboundStatus.REJECTED
    [notice] = smtp_sink.to("member@example.org")
    assert notice.mail_from == "ant-bounces@example.com"
    message = notice.message
    assert message["From"] == "ant-owner@example.com"
    assert message["Auto-Submitted"] == "auto-replied"
    text = message.get_body(("plain",)).get_content()
    assert "My rejected post" in text
    assert "The message comes from a moderated member" in text
    [attached] = [part for part in message.iter_attachments() if part.get_content_type() == "message/rfc822"]
    assert attached.get_content()["Subject"] == "My rejected post"


def test_no_reject_notice_answers_an_automatic_message(mlist, member, smtp_sink):
    update_membership(Membership.objects.get(role=Role.MEMBER), moderation_action=Action.REJECT)
    inbound = deliver(mlist, compose(Auto_Submitted="auto-replied"))
    assert inbound.status == InboundStatus.REJECTED
    assert not smtp_sink.received


def test_a_rejection_whose_notice_cannot_be_sent_waits_for_another_try(mlist, member, smtp_down):
    update_membership(Membership.objects.get(role=Role.MEMBER), moderation_action=Action.REJECT)
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.QUEUED
    assert "SMTP" in inbound.error


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.txt")))
def test_every_corpus_message_is_posted(mlist, name):
    subscribe(mlist, "poster@example.org", moderation_action=Action.ACCEPT)
    inbound = deliver(mlist, corpus_message(name), mail_from="poster@example.org")
    assert inbound.status == InboundStatus.ACCEPTED, inbound.error
    assert Post.objects.get().raw


HOSTILE = {
    "8-bit garbage in headers": b"From: \xff\xfe <poster@example.org>\nSubject: \xe9\xe8 " + b"x" * 5000 + b"\n\nhi\n",
    "a huge encoded word": b"From: poster@example.org\nSubject: =?utf-8?q?" + b"=E9" * 3000 + b"?=\n\nhi\n",
    "NUL bytes and a broken Reply-To": b"From: poster@example.org\nSubject: a\x00b\nReply-To: ,,<<>>@@\n\nhi\x00\n",
    "200 nested multiparts": b"From: poster@example.org\nSubject: deep\nContent-Type: multipart/mixed; boundary=a\n\n"
    + b"--a\nContent-Type: multipart/mixed; boundary=a\n\n" * 200,
    "bad base64": b"From: poster@example.org\nSubject: b\nContent-Transfer-Encoding: base64\n\n!!!not base64\n",
    "a charset with a NUL": b'From: poster@example.org\nSubject: c\nContent-Type: text/plain; charset="\x00x"\n\nhi\n',
    "no headers at all": b"just some bytes",
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_messages_are_posted_without_a_crash(mlist, raw):
    subscribe(mlist, "poster@example.org", moderation_action=Action.ACCEPT)
    inbound = deliver(mlist, raw, mail_from="poster@example.org")
    assert inbound.status == InboundStatus.ACCEPTED, inbound.error


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_process_each_message_once_and_number_posts_without_gaps(mlist, member):
    inbound_ids = [receive(mlist, compose(subject=f"post {n}")).pk for n in range(4)]

    def work(inbound_id: int) -> None:
        try:
            process_inbound_message(inbound_id)
        finally:
            connection.close()

    # Two workers for every message, all at once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, inbound_ids * 2))
    assert sorted(Post.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4]
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {InboundStatus.ACCEPTED}
    assert set(InboundMessage.objects.values_list("attempts", flat=True)) == {1}
