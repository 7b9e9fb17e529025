"""bulk_insert (messages.rows) stores what bulk_create would, and gives each
instance its primary key, in one statement on PostgreSQL however many rows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.models import ArchivedMessage, Thread
from messages.rows import bulk_insert

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def threads(mlist, count: int) -> list[Thread]:
    return [
        Thread(
            mailing_list=mlist,
            subject=f"Topic {number}: naïve café",
            started_at=START + timedelta(minutes=number),
            last_activity=START + timedelta(hours=number),
            message_count=number,
        )
        for number in range(count)
    ]


def test_each_row_is_stored_as_given_and_gets_its_primary_key_in_order(mlist):
    rows = threads(mlist, 3)

    bulk_insert(rows)

    stored = {thread.pk: thread for thread in Thread.objects.all()}
    assert [row.pk for row in rows] == sorted(stored)
    for row in rows:
        assert row._state.adding is False
        kept = stored[row.pk]
        assert (kept.subject, kept.started_at, kept.last_activity, kept.message_count, kept.root_id) == (
            row.subject,
            row.started_at,
            row.last_activity,
            row.message_count,
            None,
        )


def test_bytes_nulls_defaults_and_related_rows_saved_meanwhile_are_stored(mlist):
    [thread] = threads(mlist, 1)
    raw = b"Subject: \xff\xfe not UTF-8\r\n\r\n\x00 a NUL and \x80 bytes\r\n"
    message = ArchivedMessage(
        mailing_list=mlist,
        message_id="<a@x>",
        message_id_hash="A" * 32,
        date=START,
        body="Grüße",
        raw=raw,
        size=len(raw),
    )
    # Assigned before its row is stored, as the archive assigns new threads.
    message.thread = thread
    bulk_insert([thread])
    bulk_insert([message])

    kept = ArchivedMessage.objects.get(pk=message.pk)
    assert bytes(kept.raw) == raw
    assert (kept.thread_id, kept.parent_id, kept.post_id, kept.body) == (thread.pk, None, None, "Grüße")
    assert (kept.is_broken, kept.indexed) == (False, False)
    assert kept.created_at is not None


def test_nothing_to_insert_sends_nothing(mlist):
    with CaptureQueriesContext(connection) as queries:
        bulk_insert([])

    assert len(queries) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="elsewhere it is bulk_create, in batches")
def test_any_number_of_rows_is_one_statement_on_postgresql(mlist):
    rows = threads(mlist, 1200)

    with CaptureQueriesContext(connection) as queries:
        bulk_insert(rows)

    assert len(queries) == 1
    assert Thread.objects.filter(mailing_list=mlist).count() == 1200
    assert len({row.pk for row in rows}) == 1200
