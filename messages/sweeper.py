"""The sweeper: re-sends the broker messages of work that was lost.

A broker message is only a nudge; the work is in the database. When a
nudge is lost (the broker restarted, its queue was flushed, a worker died
holding it), the row stays due and the sweeper nudges it again:

- delivery batches that are due (pending, or a retry whose time has come)
  and untouched for SWEEP_GRACE_SECONDS, and batches whose claim ran out
  (their worker died mid-batch);
- inbound messages still queued SWEEP_GRACE_SECONDS after they arrived (or
  after their last nudge), and those whose worker's claim ran out;
- posts of archived lists that have no archived message SWEEP_GRACE_SECONDS
  after they were accepted (or after their last nudge), up to
  ARCHIVE_SWEEP_WINDOW old;
- archived messages not in the search index SWEEP_GRACE_SECONDS after they
  were archived (archive.search_indexing).

A nudge for work that is already done or taken is harmless: the actors
claim before they act. The grace period keeps the sweeper from doubling
nudges that are merely waiting in a busy queue.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from lists.models import ArchivePolicy
from messages.delivery import due_batches, nudge
from messages.models import DeliveryBatch, InboundMessage, InboundStatus, Post

logger = logging.getLogger(__name__)

# Rows nudged per pass; a larger backlog is taken over the next passes.
SWEEP_LIMIT = 10_000
# Unarchived posts older than this are left alone: a post made while its list
# was not archived has no mark of it, and must not appear in the archive once
# the list is archived again. Within the window it would; past it, a post
# whose nudges were all lost needs an admin.
ARCHIVE_SWEEP_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class SweepReport:
    batches: int
    inbound: int
    archive: int
    index: int = 0


def sweep(now: datetime | None = None) -> SweepReport:
    """One pass: nudge every lost batch, inbound message, unarchived post
    and unindexed archived message once."""
    from archive.search_indexing import sweep_unindexed

    now = now or timezone.now()
    grace = timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    return SweepReport(
        batches=sweep_batches(now, grace),
        inbound=sweep_inbound(now, grace),
        archive=sweep_archive(now, grace),
        index=sweep_unindexed(now, grace),
    )


def sweep_batches(now: datetime, grace: timedelta) -> int:
    stale = DeliveryBatch.objects.filter(due_batches(now), updated_at__lte=now - grace)
    batch_ids = list(stale.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_LIMIT])
    sent = nudge(batch_ids)
    # Touched, so the next pass leaves them alone while their nudge waits in the queue.
    DeliveryBatch.objects.filter(pk__in=batch_ids[:sent]).update(updated_at=now)
    return sent


def sweep_inbound(now: datetime, grace: timedelta) -> int:
    """Nudge inbound messages queued for longer than the grace period (and not
    nudged within it), and those whose worker died mid-message."""
    from messages.dispatch import claimable
    from messages.tasks import process_inbound

    waiting = Q(status=InboundStatus.QUEUED, received_at__lte=now - grace) & (
        Q(nudged_at__isnull=True) | Q(nudged_at__lte=now - grace)
    )
    abandoned = claimable(now) & Q(status=InboundStatus.PROCESSING)
    lost = InboundMessage.objects.filter(waiting | abandoned).order_by("received_at")
    sent = []
    for inbound_id in lost.values_list("pk", flat=True)[:SWEEP_LIMIT]:
        try:
            process_inbound.send(inbound_id)
        except Exception:
            logger.exception("could not send inbound message %d to the broker", inbound_id)
            break
        sent.append(inbound_id)
    InboundMessage.objects.filter(pk__in=sent).update(nudged_at=now)
    return len(sent)


def sweep_archive(now: datetime, grace: timedelta) -> int:
    """Send the archive actor the posts of archived lists that are not
    archived a grace period after their acceptance (or their last nudge)."""
    from archive.models import ArchiveNudge
    from archive.tasks import archive_post

    lost = (
        Post.objects.filter(
            created_at__lte=now - grace, created_at__gt=now - ARCHIVE_SWEEP_WINDOW, archived__isnull=True
        )
        .exclude(mailing_list__archive_policy=ArchivePolicy.NEVER)
        .exclude(archive_withdrawal__isnull=False)
        .exclude(archive_nudge__nudged_at__gt=now - grace)
        .order_by("created_at")
    )
    sent = []
    for post_id in lost.values_list("pk", flat=True)[:SWEEP_LIMIT]:
        try:
            archive_post.send(post_id)
        except Exception:
            logger.exception("could not send post %d to the archive queue", post_id)
            break
        sent.append(post_id)
    ArchiveNudge.objects.bulk_create(
        [ArchiveNudge(post_id=post_id, nudged_at=now) for post_id in sent],
        update_conflicts=True,
        unique_fields=["post"],
        update_fields=["nudged_at"],
    )
    return len(sent)
