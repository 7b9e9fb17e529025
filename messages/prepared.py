"""Cursors for the hand-written statements the mail path runs for every
post, prepared once on each PostgreSQL connection.

Django's cursors merge the parameters into the SQL text, so PostgreSQL
parses, analyses and plans every statement afresh, and for the mail path's
few long statements that took more of its CPU than running them
(benchmarks/README.md). A cursor from `cursor()` sends the parameters
apart, and psycopg prepares each statement at its first use on the
connection (settings: `prepare_threshold` 0; None, with
DATABASE_PREPARED_STATEMENTS=off, runs them unprepared). Such a statement
is one statement: several joined by ";" need Django's cursor.
"""

from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def cursor() -> CursorWrapper:
    """A cursor of the default connection that prepares what it runs on
    PostgreSQL; Django's own cursor elsewhere. Like Django's, it raises
    Django's database errors and logs its queries when they are logged."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # As Django's own cursor(): a connection idle since the last job is checked first.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        server_binding = ServerBindingCursor(connection.connection)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return LoggedCursor(server_binding, connection)
    return connection.make_cursor(server_binding)


class LoggedCursor(CursorDebugWrapper):
    """Logs a statement with its parameters merged in, as Django logs those
    of its own cursors (the server-binding cursor has no such text)."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return CursorWrapper.execute(self, sql, params)
