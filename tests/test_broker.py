"""The task broker is chosen by BROKER_URL."""

import pytest
from django.core.management import CommandError, call_command
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from mailman_site.broker import DatabaseConnections, make_broker


def test_no_broker_url_means_the_in_process_broker():
    broker = make_broker("")
    assert isinstance(broker, StubBroker)
    assert any(isinstance(m, DatabaseConnections) for m in broker.middleware)


def test_redis_consumers_poll_promptly_when_idle():
    broker = make_broker("redis://127.0.0.1:6379/14")
    assert isinstance(broker, RedisBroker)
    # dramatiq's worker asks for a one-second idle timeout.
    assert broker.consume("inbound", 1, 1000).timeout == 100


def test_amqp_url_means_rabbitmq():
    assert isinstance(make_broker("amqp://guest:guest@127.0.0.1:5672/"), RabbitmqBroker)


def test_unknown_broker_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="BROKER_URL"):
        make_broker("kafka://somewhere")


def test_runworkers_needs_a_broker_url(settings):
    settings.BROKER_URL = ""
    with pytest.raises(CommandError, match="BROKER_URL"):
        call_command("runworkers")
