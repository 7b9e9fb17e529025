"""Periodic jobs (the sweeper, tokens, held posts expiring and the
moderators' daily summaries; digests and bounce scores later), run by
`runall` in a thread and by `runworkers --scheduler` in a process of its own."""

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    name: str
    interval: float  # seconds
    run: Callable[[], object]


def default_jobs() -> list[PeriodicJob]:
    from members.tokens import purge
    from messages.moderation_jobs import expire_held, send_summaries
    from messages.sweeper import sweep

    return [
        PeriodicJob("sweep", settings.SWEEP_INTERVAL, sweep),
        PeriodicJob("purge-expired-tokens", 3600.0, purge),
        PeriodicJob("expire-held-posts", 3600.0, expire_held),
        # Hourly; each list gets one summary a day (see send_summaries).
        PeriodicJob("moderation-summaries", 3600.0, send_summaries),
    ]


def run_jobs(jobs: list[PeriodicJob], stop: threading.Event) -> None:
    """Run each job every `interval` seconds until `stop` is set.

    A failing job is logged and tried again at its next turn; it never stops
    the others.
    """
    due = {job.name: time.monotonic() for job in jobs}
    while not stop.is_set():
        now = time.monotonic()
        for job in jobs:
            if now >= due[job.name]:
                due[job.name] = now + job.interval
                try:
                    close_old_connections()
                    job.run()
                except Exception:
                    log.exception("periodic job %s failed", job.name)
                finally:
                    close_old_connections()
        stop.wait(max(0.0, min(due.values()) - time.monotonic()))


def start_in_thread(jobs: list[PeriodicJob] | None = None) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_jobs, args=(jobs or default_jobs(), stop), name="scheduler", daemon=True)
    thread.start()
    return thread, stop


def run_forever() -> None:
    """Entry point for a scheduler process (dramatiq --fork-function)."""
    import mailman_site.workers  # noqa: F401  sets Django up in this process

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_jobs(default_jobs(), stop)
