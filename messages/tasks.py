"""Dramatiq actors of the mail path. Each loads its row by id, does one
thing and is safe to run twice; the row says what is left to do."""

import dramatiq

import mailman_site.broker  # noqa: F401  installs the broker before the actors bind to it

# A lost or failed message is re-sent by the sweeper from the database, so
# the broker's own retries are few and short.
COMMON = {"max_retries": 3, "min_backoff": 1_000, "max_backoff": 30_000, "max_age": 3_600_000}


@dramatiq.actor(queue_name="inbound", time_limit=300_000, **COMMON)
def process_inbound(inbound_id: int, list_id: int | None = None) -> None:
    """Process the inbound message `inbound_id`; with `list_id` (a post's),
    that list's oldest queued posts, `inbound_id` among them unless taken."""
    from messages.dispatch import process_inbound_message

    process_inbound_message(inbound_id, list_id)


@dramatiq.actor(queue_name="delivery", time_limit=600_000, **COMMON)
def deliver_batch(batch_id: int) -> None:
    from messages.delivery import send_batch

    send_batch(batch_id)


@dramatiq.actor(queue_name="delivery", time_limit=600_000, **COMMON)
def deliver_batches(batch_ids: list[int]) -> None:
    """Several posts' single batches, sent by one worker (messages.nudges)."""
    from messages.delivery import send_batches

    send_batches(batch_ids)
