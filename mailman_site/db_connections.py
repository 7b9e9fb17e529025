"""Database connections kept between jobs (a broker message, an LMTP
delivery) and checked around each job as Django checks them around a
request, with one difference.

With CONN_HEALTH_CHECKS Django asks the database (SELECT 1) before the
first query of every request. A job here takes a few milliseconds, so that
check would be a round trip in every job. A connection that the thread's
previous job finished with less than FRESH_SECONDS ago is used as it is:
should the database have gone away since, the job's first query fails and
the job's own error handling answers for it (a worker's message is
retried, and the sweeper re-sends lost work; the LMTP receiver runs the
job again at once on a new connection, see `lost_while_idle`), and the
connection is closed after the job, as after any error. A connection idle
for longer is checked before use, as Django does.
"""

import threading
import time

from django.db import InterfaceError, OperationalError, close_old_connections, connections

FRESH_SECONDS = 1.0

_last_job = threading.local()


def job_started() -> bool:
    """Before a job: drop connections that are too old or broken; skip the
    health check of one the previous job used just now. Returns whether
    the connections will be checked before use."""
    close_old_connections()
    if time.monotonic() - getattr(_last_job, "finished", float("-inf")) >= FRESH_SECONDS:
        return True
    for connection in connections.all(initialized_only=True):
        connection.health_check_done = True
    return False


def lost_while_idle(error: BaseException) -> bool:
    """Whether `error` came from a kept connection that no longer works
    (closed by the database since the last job); such a connection is closed."""
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    lost = False
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()
            lost = True
    return lost


def job_finished() -> None:
    """After a job: close connections that had errors and no longer work, or are too old."""
    close_old_connections()
    _last_job.finished = time.monotonic()
