"""Outgoing delivery: batches, bulk and personalized sending, retries and progress,
against real SMTP servers on loopback."""

import email
import email.policy
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lists.models import Personalization
from mailman_site.broker import broker
from members.models import DeliveryMode, DeliveryStatus, Membership, Role
from members.one_click import read_token
from members.services import bulk_subscribe, subscribe
from messages.delivery import enqueue_post, permanent_failures, progress, send_batch
from messages.models import BatchStatus, DeliveryBatch, Post

pytest.register_assert_rewrite("tests.delivery_support")
from tests.delivery_support import corpus_message, member_lines  # noqa: E402
from tests.ports import free_port  # noqa: E402

pytest_plugins = ["tests.delivery_support"]


@pytest.fixture(autouse=True)
def empty_stub_broker():
    broker.flush_all()
    yield
    broker.flush_all()


def make_post(mlist, raw: bytes = b"", sequence: int = 1) -> Post:
    return Post.objects.create(mailing_list=mlist, sequence=sequence, raw=raw or corpus_message("msg_01.txt"))


def subscribe_many(mlist, count: int, prefix: str = "m") -> list[str]:
    lines = member_lines(count, prefix)
    bulk_subscribe(mlist, lines)
    return lines


def send_all(post: Post) -> None:
    for batch_id in post.batches.values_list("pk", flat=True):
        send_batch(batch_id)


def make_due(post: Post) -> None:
    post.batches.filter(status=BatchStatus.RETRY).update(next_attempt_at=timezone.now())


def delivery_queue_ids() -> list[int]:
    return [message.args[0] for message in _queued("delivery")]


def _queued(queue_name: str):
    from dramatiq import Message

    return [Message.decode(data) for data in list(broker.queues[queue_name].queue)]


# Enqueue


def test_enqueue_snapshots_enabled_regular_members_in_one_query(mlist, settings, django_capture_on_commit_callbacks):
    settings.DELIVERY_BATCH_SIZE = 2
    emails = subscribe_many(mlist, 5)
    subscribe(mlist, "off@example.org")
    Membership.objects.filter(address__email="off@example.org").update(delivery_status=DeliveryStatus.BY_USER)
    subscribe(mlist, "digest@example.org")
    Membership.objects.filter(address__email="digest@example.org").update(delivery_mode=DeliveryMode.MIME_DIGESTS)
    subscribe(mlist, "owner@example.org", role=Role.OWNER)
    post = make_post(mlist)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        assert enqueue_post(post) == 5
    roster_queries = [q for q in queries if "members_membership" in q["sql"]]
    assert len(roster_queries) == 1
    batches = list(post.batches.order_by("pk"))
    assert [b.recipient_count for b in batches] == [2, 2, 1]
    assert sorted(e for b in batches for e in b.recipient_list) == sorted(emails)
    assert Post.objects.get(pk=post.pk).recipient_count == 5
    assert delivery_queue_ids() == [b.pk for b in batches]


def test_batches_group_the_recipients_by_domain_for_the_mta(mlist, settings):
    settings.DELIVERY_BATCH_SIZE = 4
    emails = [f"{name}@{domain}" for name in ("ann", "bob", "cy") for domain in ("b.example", "a.example", "c.example")]
    for address in emails:
        subscribe(mlist, address)
    post = make_post(mlist)

    assert enqueue_post(post) == 9

    addressed = [address for batch in post.batches.order_by("pk") for address in batch.recipient_list]
    domains = [address.rpartition("@")[2] for address in addressed]
    assert sorted(addressed) == sorted(emails)
    assert domains == sorted(domains)
    assert [batch.recipient_count for batch in post.batches.order_by("pk")] == [4, 4, 1]


def test_each_posts_batches_are_due_and_stamped_when_it_is_stored(mlist, monkeypatch):
    subscribe(mlist, "a@example.org")
    first = timezone.now().replace(microsecond=0)
    for sequence, moment in enumerate((first, first + timedelta(minutes=5)), start=1):
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        post = make_post(mlist, sequence=sequence)
        enqueue_post(post)
        batch = post.batches.get()
        assert (batch.next_attempt_at, batch.updated_at) == (moment, moment)
        assert (batch.status, batch.attempts, batch.sent_count, batch.failures) == (BatchStatus.PENDING, 0, 0, [])


def test_a_list_without_recipients_stores_no_batch(mlist):
    post = make_post(mlist)

    assert enqueue_post(post) == 0

    assert not post.batches.exists()
    assert Post.objects.get(pk=post.pk).recipient_count == 0


def test_nothing_is_sent_to_the_broker_before_commit(mlist, django_capture_on_commit_callbacks):
    subscribe_many(mlist, 3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue_post(make_post(mlist))
    assert delivery_queue_ids() == []
    assert len(callbacks) == 1


def test_broker_failure_is_logged_not_raised(mlist, monkeypatch, caplog, django_capture_on_commit_callbacks):
    subscribe_many(mlist, 3)

    def broker_down(message, *, delay=None):
        raise ConnectionError("broker down")

    monkeypatch.setattr(broker, "enqueue", broker_down)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        assert enqueue_post(make_post(mlist)) == 3
    assert "the sweeper will send them again" in caplog.text
    assert DeliveryBatch.objects.get().status == BatchStatus.PENDING


# Bulk


def test_bulk_post_reaches_every_member_exactly_once(mlist, sink):
    emails = subscribe_many(mlist, 1200)
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    status = sink.wait_for(1200)
    recorded = sink.recorded()
    assert sorted(recorded) == sorted(emails)
    # Two batches (1000 + 200), at most 500 RCPTs a transaction: 2 + 1.
    assert status["messages"] == 3
    assert progress(post).as_dict() == {"total": 1200, "sent": 1200, "failed": 0, "pending": 0}


def test_bulk_transactions_carry_the_post_from_the_bounces_address(mlist, smtpd, settings):
    settings.MAX_RECIPIENTS_PER_TRANSACTION = 4
    emails = subscribe_many(mlist, 10)
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    assert [len(a.rcpt_tos) for a in smtpd.arrived] == [4, 4, 2]
    assert sorted(r for a in smtpd.arrived for r in a.rcpt_tos) == sorted(emails)
    assert {a.mail_from for a in smtpd.arrived} == {"ant-bounces@example.com"}
    assert smtpd.arrived[0].content == bytes(post.raw).replace(b"\n", b"\r\n")


# Personalized


def arrived_message(arrived) -> email.message.EmailMessage:
    return email.message_from_bytes(arrived.content, policy=email.policy.default)


def one_click_token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_full_personalization_sends_each_member_their_own_copy(mlist, smtpd, settings):
    mlist.personalize = Personalization.FULL
    mlist.save()
    emails = subscribe_many(mlist, 3)
    raw = b"List-Unsubscribe: <mailto:old@example.com>\n" + corpus_message("msg_01.txt")
    post = make_post(mlist, raw)
    enqueue_post(post)
    send_all(post)
    assert smtpd.transactions == 3
    for address in emails:
        [arrived] = smtpd.received_by(address)
        assert arrived.rcpt_tos == [address]
        local, host = address.split("@")
        assert arrived.mail_from == f"ant-bounces+{local}={host}@example.com"
        message = arrived_message(arrived)
        assert message.get_all("To") == [address]
        [unsubscribe] = message.get_all("List-Unsubscribe")
        url, mailto = (part.strip().strip("<>") for part in unsubscribe.split(","))
        assert url.startswith(f"{settings.SITE_URL}/lists/ant.example.com/unsubscribe/one-click/")
        assert read_token("ant.example.com", one_click_token(url)) == address
        assert mailto == "mailto:ant-leave@example.com"
        assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
        assert message.get_content().rstrip().endswith(f"Unsubscribe: <{url}>")
        assert message["Subject"] == "This is a test message"


def test_personalized_header_lines_are_folded_and_within_limits(mlist, smtpd):
    mlist.personalize = Personalization.FULL
    mlist.save()
    subscribe(mlist, "a.rather.long.local.part.for.testing.folding@subdomain.example.org")
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    head = smtpd.arrived[0].content.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    # The two URIs of List-Unsubscribe sit on a line each.
    start = next(i for i, line in enumerate(lines) if line.startswith(b"List-Unsubscribe:"))
    assert lines[start].endswith(b">,") and lines[start + 1].startswith(b" <mailto:")


def test_individual_personalization_keeps_the_list_to(mlist, smtpd):
    mlist.personalize = Personalization.INDIVIDUAL
    mlist.save()
    subscribe_many(mlist, 1)
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    message = arrived_message(smtpd.arrived[0])
    assert message.get_all("To") == ["bbb@zzz.org"]
    assert smtpd.arrived[0].mail_from.startswith("ant-bounces+")
    assert len(message.get_all("List-Unsubscribe")) == 1


def test_multipart_body_keeps_its_parts_and_gets_the_footer(mlist, smtpd):
    mlist.personalize = Personalization.FULL
    mlist.save()
    [address] = subscribe_many(mlist, 1)
    raw = corpus_message("msg_07.txt")
    post = make_post(mlist, raw)
    enqueue_post(post)
    send_all(post)
    sent_body = smtpd.arrived[0].content.split(b"\r\n\r\n", 1)[1]
    original_body = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
    assert sent_body.startswith(original_body.rsplit(b"--BOUNDARY--", 1)[0]), "the original parts, byte for byte"
    *_, footer = arrived_message(smtpd.arrived[0]).iter_parts()
    assert f"This copy was sent to {address}" in footer.get_content()


def test_quoted_printable_body_gets_an_encoded_footer(mlist, smtpd):
    mlist.personalize = Personalization.INDIVIDUAL
    mlist.save()
    [address] = subscribe_many(mlist, 1)
    raw = (
        b"From: a@example.org\nSubject: qp\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe\n"
    )
    post = make_post(mlist, raw)
    enqueue_post(post)
    send_all(post)
    text = arrived_message(smtpd.arrived[0]).get_content().replace("\r\n", "\n")
    assert text.startswith("Grüße\n")
    url = text.rsplit("Unsubscribe: <", 1)[1].split(">")[0]
    assert read_token("ant.example.com", one_click_token(url)) == address


# Failures and retries


def test_temporary_failures_are_retried_until_delivered(mlist, smtpd):
    emails = subscribe_many(mlist, 5)
    smtpd.script = {emails[1]: ["451 4.3.0 greylisted"], emails[3]: ["452 4.2.2 mailbox full"] * 2}
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.RETRY
    assert sorted(batch.recipient_list) == sorted([emails[1], emails[3]])
    assert batch.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert {f["email"]: f["permanent"] for f in batch.failures} == {emails[1]: False, emails[3]: False}
    assert progress(post).as_dict() == {"total": 5, "sent": 3, "failed": 0, "pending": 2}

    send_batch(batch.pk)  # not due yet: nothing happens
    assert len(smtpd.arrived) == 1

    make_due(post)
    send_batch(batch.pk)
    assert progress(post).pending == 1
    make_due(post)
    send_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE and batch.failures == []
    assert progress(post).as_dict() == {"total": 5, "sent": 5, "failed": 0, "pending": 0}
    assert sorted(r for a in smtpd.arrived for r in a.rcpt_tos) == sorted(emails)


def test_random_temporary_failures_at_the_sink_end_in_exactly_one_copy(mlist, start_sink, settings):
    from tests.delivery_support import use_smtp_server

    sink = start_sink(tempfail=0.3, seed=3)
    use_smtp_server(settings, sink.port)
    settings.DELIVERY_BATCH_SIZE = 100
    emails = subscribe_many(mlist, 300)
    post = make_post(mlist)
    enqueue_post(post)
    for _ in range(30):
        send_all(post)
        if progress(post).pending == 0:
            break
        make_due(post)
    assert progress(post).as_dict() == {"total": 300, "sent": 300, "failed": 0, "pending": 0}
    sink.wait_for(300)
    assert sorted(sink.recorded()) == sorted(emails)
    assert sink.status()["tempfailed"] > 0


def test_permanent_failures_are_recorded_with_the_reply(mlist, smtpd):
    emails = subscribe_many(mlist, 3)
    smtpd.script = {emails[0]: ["550 5.1.1 no such user here"]}
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.DONE
    assert (batch.sent_count, batch.failed_count) == (2, 1)
    assert batch.failures == [{"email": emails[0], "code": 550, "reply": "5.1.1 no such user here", "permanent": True}]
    assert progress(post).as_dict() == {"total": 3, "sent": 2, "failed": 1, "pending": 0}
    [failure] = permanent_failures(post)
    assert (failure.email, failure.code) == (emails[0], 550)


def test_temporary_failure_past_the_maximum_age_becomes_permanent(mlist, smtpd, settings):
    settings.DELIVERY_MAX_AGE = 30
    emails = subscribe_many(mlist, 2)
    smtpd.script = {emails[0]: ["451 4.3.0 try later"]}
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.DONE
    [failure] = batch.failures
    assert failure["permanent"] and "given up after 1 attempts" in failure["reply"]
    assert progress(post).as_dict() == {"total": 2, "sent": 1, "failed": 1, "pending": 0}


def test_unreachable_server_leaves_the_batch_to_retry(mlist, settings):
    from tests.delivery_support import use_smtp_server

    use_smtp_server(settings, free_port())
    subscribe_many(mlist, 4)
    post = make_post(mlist)
    enqueue_post(post)
    send_all(post)
    batch = DeliveryBatch.objects.get()
    assert batch.status == BatchStatus.RETRY and batch.recipient_count == 4
    assert {f["code"] for f in batch.failures} == {421}
    assert progress(post).as_dict() == {"total": 4, "sent": 0, "failed": 0, "pending": 4}


def test_progress_of_a_post_without_recipients(mlist):
    post = make_post(mlist)
    assert enqueue_post(post) == 0
    assert progress(post).as_dict() == {"total": 0, "sent": 0, "failed": 0, "pending": 0}
