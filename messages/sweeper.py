"""The sweeper: re-sends the broker messages of work that was lost.

A broker message is only a nudge; the work is in the database. When a
nudge is lost (the broker restarted, its queue was flushed, a worker died
holding it), the row stays due and the sweeper nudges it again:

- delivery batches that are due (pending, or a retry whose time has come)
  and untouched for SWEEP_GRACE_SECONDS, and batches whose claim ran out
  (their worker died mid-batch);
- inbound messages still queued SWEEP_GRACE_SECONDS after they arrived.

A nudge for work that is already done or taken is harmless: the actors
claim before they act. The grace period keeps the sweeper from doubling
nudges that are merely waiting in a busy queue.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from messages.delivery import due_batches, nudge
from messages.models import DeliveryBatch, InboundMessage, InboundStatus

logger = logging.getLogger(__name__)

# Rows nudged per pass; a larger backlog is taken over the next passes.
SWEEP_LIMIT = 10_000


@dataclass(frozen=True)
class SweepReport:
    batches: int
    inbound: int


class Sweeper:
    """Sweeps again and again; remembers which inbound messages it nudged
    lately (they have no column to mark it) so a backlog is not nudged twice
    within one grace period. Correctness never depends on that memory."""

    def __init__(self):
        self.nudged_inbound: dict[int, float] = {}

    def sweep(self, now: datetime | None = None) -> SweepReport:
        now = now or timezone.now()
        grace = timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
        return SweepReport(batches=self.sweep_batches(now, grace), inbound=self.sweep_inbound(now, grace))

    def sweep_batches(self, now: datetime, grace: timedelta) -> int:
        stale = DeliveryBatch.objects.filter(due_batches(now), updated_at__lte=now - grace)
        batch_ids = list(stale.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_LIMIT])
        sent = nudge(batch_ids)
        # Touched, so the next pass leaves them alone while their nudge waits in the queue.
        DeliveryBatch.objects.filter(pk__in=batch_ids[:sent]).update(updated_at=now)
        return sent

    def sweep_inbound(self, now: datetime, grace: timedelta) -> int:
        from messages.tasks import process_inbound

        clock = time.monotonic()
        seconds = grace.total_seconds()
        self.nudged_inbound = {pk: at for pk, at in self.nudged_inbound.items() if clock - at < seconds}
        queued = InboundMessage.objects.filter(status=InboundStatus.QUEUED, received_at__lte=now - grace)
        sent = 0
        for inbound_id in queued.order_by("received_at").values_list("pk", flat=True)[:SWEEP_LIMIT]:
            if inbound_id in self.nudged_inbound:
                continue
            try:
                process_inbound.send(inbound_id)
            except Exception:
                logger.exception("could not send inbound message %d to the broker", inbound_id)
                break
            self.nudged_inbound[inbound_id] = clock
            sent += 1
        return sent


# The process's own sweeper, so that the periodic job keeps its memory.
_sweeper = Sweeper()


def sweep() -> SweepReport:
    """One pass: nudge every lost batch and inbound message once."""
    return _sweeper.sweep()
