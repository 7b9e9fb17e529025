"""The Dramatiq broker, chosen by BROKER_URL.

redis://... and amqp://... give the Redis and RabbitMQ brokers; an empty
BROKER_URL gives an in-process broker whose worker threads run inside the
all-in-one command. Either way the work itself lives in the database and a
lost broker message is re-sent by the sweeper, so the in-process broker
loses nothing when the process dies.

Importing this module installs the broker; actor modules import it first.
"""

import threading
from urllib.parse import urlsplit

import dramatiq
from django.conf import settings
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from mailman_site.db_connections import job_finished, job_started


class DatabaseConnections(Middleware):
    """Give each message a working database connection and let it go after,
    as Django does around a request (see mailman_site.db_connections)."""

    def before_process_message(self, broker, message):
        job_started()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        job_finished()

    after_skip_message = after_process_message


# An idle Redis consumer polls with a backoff up to its timeout, which
# dramatiq's worker sets to a second: a second of latency added to a fresh
# post. Capped at 100 ms, an idle worker costs Redis a few polls a second.
REDIS_IDLE_POLL_MS = 100


def prompt_redis_broker(url: str) -> dramatiq.Broker:
    from dramatiq.brokers.redis import RedisBroker

    class PromptRedisBroker(RedisBroker):
        def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000):
            return super().consume(queue_name, prefetch, min(timeout, REDIS_IDLE_POLL_MS))

    return PromptRedisBroker(url=url)


def make_broker(url: str) -> dramatiq.Broker:
    scheme = urlsplit(url).scheme if url else ""
    if scheme in {"redis", "rediss"}:
        broker = prompt_redis_broker(url)
    elif scheme in {"amqp", "amqps"}:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif not scheme:
        broker = StubBroker()
    else:
        raise ValueError(f"BROKER_URL: unknown scheme {scheme!r} (use redis://, amqp:// or leave it empty)")
    broker.add_middleware(DatabaseConnections())
    return broker


def is_in_process(broker: dramatiq.Broker) -> bool:
    return isinstance(broker, StubBroker)


# Set by the all-in-one command once its worker threads consume the
# in-process broker; other processes (a management command, a web server
# started alone) have nobody to run what they would send it.
_local_workers = threading.Event()


def local_workers_started() -> None:
    _local_workers.set()


def runs_sent_work(broker: dramatiq.Broker) -> bool:
    """Whether a message sent to `broker` from this process will be run:
    always on Redis and RabbitMQ (the workers are elsewhere), on the
    in-process broker only in the process whose threads consume it."""
    return not is_in_process(broker) or _local_workers.is_set()


broker = make_broker(settings.BROKER_URL)
dramatiq.set_broker(broker)


def load_actors() -> None:
    """Import every installed app's `tasks` module, declaring its actors."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.apps import apps

    for app in apps.get_app_configs():
        if find_spec(f"{app.name}.tasks") is not None:
            import_module(f"{app.name}.tasks")
