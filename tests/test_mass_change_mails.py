"""The welcomes and goodbyes of a mass change are sent by the workers, a
broker message for up to 500 addresses, not by the owner's request; they
are sent at once when nobody would run the message or the broker is down."""

import threading

import pytest
from django.utils import translation
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

import mailman_site.broker
from lists.services import delete_list
from members import notices
from members.services import subscribe
from members.tasks import send_membership_mails
from members.workflows import mass_subscribe, mass_unsubscribe
from tests.ports import free_port

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]


@pytest.fixture
def mail_queue(monkeypatch) -> StubBroker:
    """A broker of the test's own for the actor, with workers to run it (as
    in the all-in-one command, or with Redis and its worker processes)."""
    broker = StubBroker()
    broker.declare_queue(send_membership_mails.queue_name)
    monkeypatch.setattr(send_membership_mails, "broker", broker)
    running = threading.Event()
    running.set()
    monkeypatch.setattr(mailman_site.broker, "_local_workers", running)
    return broker


def queued(broker: StubBroker) -> list[Message]:
    return [Message.decode(data) for data in list(broker.queues[send_membership_mails.queue_name].queue)]


def run_queued(broker: StubBroker) -> None:
    """What a worker does with each queued message."""
    for message in queued(broker):
        send_membership_mails.fn(*message.args, **message.kwargs)


def test_the_request_only_queues_the_welcomes_and_a_worker_sends_each(mlist, smtp_sink, committed, mail_queue):
    subscribe(mlist, "old@example.net")
    result = committed(mass_subscribe, mlist, ["a@example.net", "B <b@example.net>", "old@example.net"])
    assert result.added == ["a@example.net", "b@example.net"]
    assert not smtp_sink.received
    [message] = queued(mail_queue)
    assert message.args[:3] == (mlist.pk, "welcome", ["a@example.net", "b@example.net"])
    run_queued(mail_queue)
    assert sorted(smtp_sink.recipients()) == ["a@example.net", "b@example.net"]
    assert all("Welcome" in str(mail.message["Subject"]) for mail in smtp_sink.received)


def test_a_message_carries_at_most_500_addresses(mlist, smtp_sink, committed, mail_queue, monkeypatch):
    monkeypatch.setattr(notices, "MAILS_PER_MESSAGE", 2)
    committed(mass_subscribe, mlist, [f"m{number}@example.net" for number in range(5)])
    assert [len(message.args[2]) for message in queued(mail_queue)] == [2, 2, 1]
    run_queued(mail_queue)
    assert sorted(smtp_sink.recipients()) == [f"m{number}@example.net" for number in range(5)]


def test_the_welcomes_are_written_in_the_language_of_the_request(mlist, smtp_sink, committed, mail_queue):
    with translation.override("de"):
        committed(mass_subscribe, mlist, ["a@example.net"])
    [message] = queued(mail_queue)
    assert message.args[3] == "de"


def test_goodbyes_go_the_same_way(mlist, smtp_sink, committed, mail_queue):
    subscribe(mlist, "a@example.net")
    committed(mass_unsubscribe, mlist, ["a@example.net"])
    assert not smtp_sink.received
    run_queued(mail_queue)
    [mail] = smtp_sink.to("a@example.net")
    assert "You have left" in str(mail.message["Subject"])


def test_a_quiet_mass_change_queues_nothing(mlist, smtp_sink, committed, mail_queue):
    committed(mass_subscribe, mlist, ["a@example.net"], send_welcome=False)
    assert queued(mail_queue) == []


def test_the_welcomes_are_sent_at_once_when_the_broker_is_down(mlist, smtp_sink, committed, monkeypatch):
    # Nothing listens on this port: the broker cannot take the message.
    monkeypatch.setattr(send_membership_mails, "broker", RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0"))
    committed(mass_subscribe, mlist, ["a@example.net", "b@example.net"])
    assert sorted(smtp_sink.recipients()) == ["a@example.net", "b@example.net"]


def test_the_welcomes_are_sent_at_once_where_no_worker_runs_the_in_process_broker(
    mlist, smtp_sink, committed, monkeypatch
):
    broker = StubBroker()
    broker.declare_queue(send_membership_mails.queue_name)
    monkeypatch.setattr(send_membership_mails, "broker", broker)
    monkeypatch.setattr(mailman_site.broker, "_local_workers", threading.Event())
    committed(mass_subscribe, mlist, ["a@example.net"])
    assert smtp_sink.recipients() == ["a@example.net"]
    assert queued(broker) == []


def test_the_mails_of_a_list_deleted_meanwhile_are_dropped(mlist, smtp_sink, committed, mail_queue):
    committed(mass_subscribe, mlist, ["a@example.net"])
    delete_list(mlist)
    run_queued(mail_queue)
    assert not smtp_sink.received
