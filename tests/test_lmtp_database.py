"""The LMTP receiver when the database fails: it answers 451 4.3.0 so the
MTA retries, writes nothing half-way, and takes the next delivery once the
database is back."""

import hashlib
import sqlite3
import threading
import time

import psycopg
import pytest
from django.db import connection

from messages.models import InboundMessage, InboundStatus
from tests.lmtp_client import (
    DatabaseProxy,
    connected,
    database_settings,
    deliver,
    make_message,
    queued_ids,
    running_lmtp_server,
    use_stub_broker,
)
from tests.ports import free_port

pytestmark = pytest.mark.django_db(transaction=True)

ON_POSTGRESQL = connection.vendor == "postgresql"
only_on_postgresql = pytest.mark.skipif(
    not ON_POSTGRESQL, reason="needs PostgreSQL: it cuts or locks a PostgreSQL connection (SQLite has its own test)"
)
only_on_sqlite = pytest.mark.skipif(
    ON_POSTGRESQL, reason="needs SQLite: it holds SQLite's whole-database lock (PostgreSQL has its own test)"
)


@pytest.fixture
def inbound_queue(monkeypatch):
    return use_stub_broker(monkeypatch)


def test_unreachable_database_gets_451_at_rcpt(mlist, inbound_queue, tmp_path):
    if ON_POSTGRESQL:
        nowhere = {"HOST": "127.0.0.1", "PORT": free_port()}
    else:
        nowhere = {"NAME": str(tmp_path / "missing" / "db.sqlite3")}
    with database_settings(**nowhere), running_lmtp_server() as server, connected(server) as client:
        assert client.mail("sender@example.org")[0] == 250
        code, reply = client.rcpt("ant@example.com")

    assert (code, reply[:6]) == (451, b"4.3.0 ")


@only_on_postgresql
def test_database_cut_during_delivery_gets_451_and_writes_nothing(mlist, inbound_queue):
    real = connection.settings_dict
    proxy = DatabaseProxy((real["HOST"] or "127.0.0.1", int(real["PORT"] or 5432)))
    recipients = ["ant@example.com", "ant-owner@example.com"]
    raw = make_message("<cut@example.org>")
    try:
        with (
            database_settings(HOST="127.0.0.1", PORT=proxy.port),
            running_lmtp_server() as server,
            connected(server) as client,
        ):
            assert deliver(client, ["ant@example.com"], make_message("<before@example.org>")).data_codes == [250]
            # Cut when the second row is about to be written: the first is
            # already in the transaction.
            proxy.cut_at(b'INSERT INTO "mail_inboundmessage"', occurrence=2)

            cut = deliver(client, recipients, raw)

            assert [(code, reply[:6]) for code, reply in cut.data] == [(451, "4.3.0 ")] * 2
            assert not InboundMessage.objects.filter(message_id="<cut@example.org>").exists()
            assert len(queued_ids(inbound_queue)) == 1
            # Still cut: the next recipient cannot be looked up either.
            assert client.mail("sender@example.org")[0] == 250
            assert client.rcpt("ant@example.com")[0] == 451
            client.rset()

            proxy.restore()
            retried = deliver(client, recipients, raw)

            assert retried.data_codes == [250, 250]
    finally:
        proxy.close()
    rows = InboundMessage.objects.filter(message_id="<cut@example.org>")
    assert [row.status for row in rows] == [InboundStatus.QUEUED] * 2
    assert len(queued_ids(inbound_queue)) == 3


@only_on_sqlite
def test_locked_database_gets_451_and_writes_nothing(mlist, inbound_queue):
    real = connection.settings_dict
    raw = make_message("<locked@example.org>")
    # Give up on the lock after 0.2 s instead of the site's 30.
    with (
        database_settings(OPTIONS={**real["OPTIONS"], "timeout": 0.2}),
        running_lmtp_server() as server,
        connected(server) as client,
    ):
        assert client.mail("sender@example.org")[0] == 250
        assert client.rcpt("ant@example.com")[0] == 250
        other = sqlite3.connect(real["NAME"], uri=True, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            code, reply = client.data(raw)
        finally:
            other.rollback()
            other.close()

        assert (code, reply[:6]) == (451, b"4.3.0 ")
        assert not InboundMessage.objects.exists()
        assert queued_ids(inbound_queue) == []

        assert deliver(client, ["ant@example.com"], raw).data_codes == [250]
    assert InboundMessage.objects.get().status == InboundStatus.QUEUED
    assert len(queued_ids(inbound_queue)) == 1


@only_on_postgresql
def test_concurrent_deliveries_of_one_message_take_turns_and_post_once(mlist, inbound_queue):
    raw = make_message("<twice@example.org>")
    # The key store_inbound locks on: the digest's first 8 bytes.
    key = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big", signed=True)
    real = connection.settings_dict
    with (
        psycopg.connect(
            host=real["HOST"] or "127.0.0.1", port=real["PORT"] or 5432, user=real["USER"], dbname=real["NAME"]
        ) as holder,
        running_lmtp_server() as server,
    ):
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        replies = {}

        def deliver_in_thread(name):
            with connected(server) as client:
                replies[name] = deliver(client, ["ant@example.com"], raw).data_codes

        threads = [threading.Thread(target=deliver_in_thread, args=(name,)) for name in ("first", "retry")]
        for thread in threads:
            thread.start()
        try:
            wait_for_lock_waiters(holder, 2)
            # Both wait in their database threads; the receiver serves others.
            with connected(server) as client:
                other = deliver(client, ["ant-owner@example.com"], make_message("<other@example.org>"))
                assert other.data_codes == [250]
        finally:
            holder.rollback()
            for thread in threads:
                thread.join(30)

    assert replies == {"first": [250], "retry": [250]}
    statuses = sorted(row.status for row in InboundMessage.objects.filter(message_id="<twice@example.org>"))
    assert statuses == sorted([InboundStatus.QUEUED, InboundStatus.DUPLICATE])
    assert len(queued_ids(inbound_queue)) == 2


def wait_for_lock_waiters(holder: psycopg.Connection, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(holder.info.dsn, password=holder.info.password, autocommit=True) as probe:
            waiting = probe.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            if waiting.fetchone()[0] >= count:
                return
        time.sleep(0.05)
    pytest.fail(f"{count} deliveries did not come to wait on the lock")
