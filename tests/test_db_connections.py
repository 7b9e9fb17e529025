"""Database connections kept between jobs: checked before a job only when
they have been idle (mailman_site.db_connections)."""

import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections

from mailman_site import db_connections
from messages import prepared

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def health_checks(monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "health_check_enabled", True)


def test_a_connection_the_last_job_just_used_is_not_checked():
    connection.ensure_connection()
    db_connections.job_finished()

    assert db_connections.job_started() is False
    assert connection.health_check_done is True


def test_an_idle_connection_is_checked_before_use(monkeypatch):
    connection.ensure_connection()
    db_connections.job_finished()
    monkeypatch.setattr(db_connections, "FRESH_SECONDS", 0)

    assert db_connections.job_started() is True
    assert connection.health_check_done is False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="elsewhere prepared.cursor() is Django's own cursor")
def test_a_prepared_statement_cursor_checks_an_idle_connection_as_djangos_own_does(monkeypatch):
    connection.ensure_connection()
    db_connections.job_finished()
    monkeypatch.setattr(db_connections, "FRESH_SECONDS", 0)
    db_connections.job_started()
    connection.connection.close()  # as when the server went away while it was idle

    with prepared.cursor() as cursor:
        cursor.execute("SELECT %s", [1])
        assert cursor.fetchone() == (1,)


def test_a_connection_that_still_works_is_not_lost():
    connection.ensure_connection()

    assert db_connections.lost_while_idle(OperationalError("server closed the connection")) is False
    assert connection.connection is not None


def test_other_errors_are_not_taken_for_a_lost_connection():
    assert db_connections.lost_while_idle(ValueError("bad input")) is False
