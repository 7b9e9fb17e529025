"""Periodic jobs: each runs on its interval; a failing one stops nothing."""

import threading

from mailman_site.scheduler import PeriodicJob, default_jobs, run_jobs


def test_a_failing_job_does_not_stop_the_others(db):
    stop = threading.Event()
    runs = []

    def count():
        runs.append(1)
        if len(runs) >= 3:
            stop.set()

    def fail():
        raise RuntimeError("boom")

    worker = threading.Thread(
        target=run_jobs, args=([PeriodicJob("fail", 0.01, fail), PeriodicJob("count", 0.01, count)], stop)
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(runs) == 3


def test_the_sweeper_the_token_purge_and_the_moderation_jobs_are_scheduled(settings):
    jobs = {job.name: job.interval for job in default_jobs()}
    assert jobs == {
        "sweep": settings.SWEEP_INTERVAL,
        "purge-expired-tokens": 3600.0,
        "expire-held-posts": 3600.0,
        "moderation-summaries": 3600.0,
    }
