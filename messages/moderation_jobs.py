"""The hold queue's periodic jobs (mailman_site.scheduler runs them hourly;
`manage.py expire_held_posts` and `manage.py send_moderation_summaries`
run them once): held posts expiring, and the daily summary of what waits.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lists.models import MailingList
from members.models import RequestStatus
from messages import moderation_notices
from messages.models import HeldStatus, InboundStatus
from messages.moderation import AlreadyDecided, decide
from messages.moderation_log import Via

logger = logging.getLogger(__name__)

# A held post or request listed in a summary at most; the count is whole.
SUMMARY_ITEMS = 200
SUMMARY_KEY = "messages.moderation_summary"


def expire_held(now: datetime | None = None) -> int:
    """Discard (as EXPIRED) the posts held longer than their list's
    max_days_to_hold (0: kept), log each with via "site", and send each
    list's owners one notice naming them; how many expired. Safe to run
    twice, and beside moderators deciding: each post is decided once."""
    now = now or timezone.now()
    count = 0
    lists = MailingList.objects.filter(max_days_to_hold__gt=0, held_messages__status=HeldStatus.PENDING).distinct()
    for mlist in lists.select_related("domain"):
        cutoff = now - timedelta(days=mlist.max_days_to_hold)
        expired = []
        for held in mlist.held_messages.filter(status=HeldStatus.PENDING, held_at__lt=cutoff).order_by("held_at"):
            held.mailing_list = mlist
            try:
                with transaction.atomic():
                    decide(held, HeldStatus.EXPIRED, None, InboundStatus.DISCARDED, via=Via.SITE)
            except AlreadyDecided:
                continue
            expired.append(held)
        if expired:
            logger.info("%d held post(s) of %s expired", len(expired), mlist)
            moderation_notices.send_expiry_notice(mlist, expired)
            count += len(expired)
    return count


def send_summaries(now: datetime | None = None, *, force: bool = False) -> int:
    """Send the day's summary to the moderators of each list that asks for
    one (send_moderation_summary) and has something waiting; how many went.

    Once a day a list, from summary_hour() UTC on: the day's mark is kept
    in the shared cache (CACHES; with the default local-memory cache a
    restarted process may send a second one that day). `force` sends now,
    whatever the hour and the mark.
    """
    now = now or timezone.now()
    if not force and now.hour < summary_hour():
        return 0
    waiting = Q(held_messages__status=HeldStatus.PENDING) | Q(subscription_requests__status=RequestStatus.PENDING)
    lists = MailingList.objects.filter(waiting, send_moderation_summary=True).distinct().select_related("domain")
    cache = caches["default"]
    sent = 0
    for mlist in lists:
        key = f"{SUMMARY_KEY}:{mlist.pk}:{now.date().isoformat()}"
        if not force and not cache.add(key, 1, timeout=2 * 24 * 3600):
            continue
        held = mlist.held_messages.filter(status=HeldStatus.PENDING).order_by("held_at")
        requests = mlist.subscription_requests.filter(status=RequestStatus.PENDING).order_by("requested_at")
        listed = (list(held[:SUMMARY_ITEMS]), list(requests[:SUMMARY_ITEMS]))
        if moderation_notices.send_summary(mlist, *listed, count=held.count() + requests.count()):
            sent += 1
    return sent


def summary_hour() -> int:
    return settings.MODERATION_SUMMARY_HOUR
