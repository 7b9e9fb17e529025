"""Limits on the mails a stranger can make the site send to an address:
confirmation requests and invitations. Nobody may use the list to flood an
inbox, from one client or from many.

A fixed window counter per kind and key in Django's cache. The cache must
be one all processes share (Redis or Memcached: CACHES in the settings);
the default local-memory cache counts per process, which only suits a
single process. `allow()` is what the web, API and email layers call.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import caches

# Confirmation mails to one address, and requests from one client IP
# address, allowed per window; (count, window in seconds). Override with
# settings.MEMBERS_RATE_LIMITS = {"address": (3, 3600), ...}.
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    "address": (3, 3600),
    "ip": (20, 3600),
}
CACHE_ALIAS = "default"
KEY_PREFIX = "members.ratelimit"


def limits() -> dict[str, tuple[int, int]]:
    return {**DEFAULT_LIMITS, **getattr(settings, "MEMBERS_RATE_LIMITS", {})}


def allow(kind: str, key: str) -> bool:
    """Count one more event of `kind` ("address" or "ip") for `key`; False
    once the window's allowance is spent. An empty key is always allowed
    (no client IP is known for mail that came in over LMTP)."""
    if not key:
        return True
    count, window = limits()[kind]
    now = int(time.time())
    # The key is hashed: cache keys are short ASCII, addresses need not be.
    hashed = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]
    cache_key = f"{KEY_PREFIX}:{kind}:{hashed}:{now // window}"
    cache = caches[CACHE_ALIAS]
    cache.add(cache_key, 0, timeout=window)
    try:
        used = cache.incr(cache_key)
    except ValueError:
        # Evicted between add and incr: count this one as the first.
        cache.set(cache_key, 1, timeout=window)
        used = 1
    return used <= count


def count_today(kind: str, key: str) -> int:
    """Count one more event of `kind` for `key` today (UTC); how many there
    were today, this one included. For daily allowances such as Mailman's
    max_autoresponses_per_day, in the same shared cache as `allow`."""
    hashed = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]
    cache_key = f"{KEY_PREFIX}:{kind}:{hashed}:{time.strftime('%Y-%m-%d', time.gmtime())}"
    cache = caches[CACHE_ALIAS]
    cache.add(cache_key, 0, timeout=24 * 3600)
    try:
        return cache.incr(cache_key)
    except ValueError:
        # Evicted between add and incr: count this one as the first.
        cache.set(cache_key, 1, timeout=24 * 3600)
        return 1
