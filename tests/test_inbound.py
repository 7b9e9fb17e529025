"""Storing a received message: one transaction, then a nudge per new row."""

import hashlib

import pytest
from django.db import IntegrityError

from lists.services import create_list, delete_list, get_list
from messages.addresses import resolve_recipient
from messages.inbound import db_text, parse_message_id, store_inbound
from messages.models import Destination, InboundMessage, InboundStatus
from tests.lmtp_client import make_message, queued_ids, use_stub_broker


@pytest.fixture
def inbound_queue(monkeypatch):
    return use_stub_broker(monkeypatch)


def recipients(*addresses):
    return [resolve_recipient(address) for address in addresses]


@pytest.mark.django_db
def test_each_recipient_gets_a_row_with_the_message_as_received(mlist):
    raw = make_message("<stored@example.org>")

    rows = store_inbound("sender@example.org", recipients("ant@example.com", "ant-confirm+Tok@example.com"), raw)

    assert [(row.rcpt_to, row.destination, row.subaddress_argument) for row in rows] == [
        ("ant@example.com", Destination.POST, ""),
        ("ant-confirm+Tok@example.com", Destination.CONFIRM, "Tok"),
    ]
    for row in InboundMessage.objects.all():
        assert bytes(row.raw) == raw
        assert (row.mail_from, row.size, row.message_id) == ("sender@example.org", len(raw), "<stored@example.org>")
        assert row.digest == hashlib.sha256(raw).hexdigest()
        assert row.status == InboundStatus.QUEUED


@pytest.mark.django_db
def test_new_rows_are_queued_only_after_the_commit(mlist, inbound_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rows = store_inbound("", recipients("ant@example.com", "ant-owner@example.com"), make_message())
        assert queued_ids(inbound_queue) == []

    assert queued_ids(inbound_queue) == [row.pk for row in rows]


@pytest.mark.django_db
def test_a_retried_delivery_is_stored_as_a_duplicate_and_not_queued(
    mlist, inbound_queue, django_capture_on_commit_callbacks
):
    raw = make_message("<retried@example.org>")
    with django_capture_on_commit_callbacks(execute=True):
        [first] = store_inbound("", recipients("ant@example.com"), raw)
    with django_capture_on_commit_callbacks(execute=True):
        [retry, owners] = store_inbound("", recipients("ant@example.com", "ant-owner@example.com"), raw)

    assert (first.status, retry.status, owners.status) == (
        InboundStatus.QUEUED,
        InboundStatus.DUPLICATE,
        InboundStatus.QUEUED,
    )
    assert queued_ids(inbound_queue) == [first.pk, owners.pk]


@pytest.mark.django_db
def test_one_address_given_twice_in_one_delivery_is_posted_once(mlist):
    rows = store_inbound("", recipients("ant@example.com", "ANT@example.com"), make_message())

    assert [row.status for row in rows] == [InboundStatus.QUEUED, InboundStatus.DUPLICATE]


@pytest.mark.django_db(transaction=True)
def test_a_failure_stores_nothing_and_queues_nothing(mlist, inbound_queue):
    create_list("bee@example.com")
    resolved = recipients("ant@example.com", "bee@example.com")
    # Another process deletes the list between RCPT TO and the end of DATA.
    delete_list(get_list("bee@example.com"))

    with pytest.raises(IntegrityError):
        store_inbound("sender@example.org", resolved, make_message())

    assert not InboundMessage.objects.exists()
    assert queued_ids(inbound_queue) == []


@pytest.mark.django_db
def test_envelope_text_the_database_cannot_hold_is_made_safe(mlist):
    [row] = store_inbound("b\udcffd\x00@example.org", recipients("ant@example.com"), make_message())

    row.refresh_from_db()
    assert row.mail_from == "b\ufffdd@example.org"


@pytest.mark.parametrize(
    ("raw", "message_id"),
    [
        (b"Message-ID: <a@example.org>\r\n\r\nbody", "<a@example.org>"),
        (b"message-id:<a@example.org>\r\n\r\n", "<a@example.org>"),
        (b"MESSAGE-ID: \r\n  <folded@example.org>\r\nSubject: x\r\n\r\n", "<folded@example.org>"),
        (b"Subject: x\nMessage-Id: <lf@example.org>\n\n", "<lf@example.org>"),
        (b"Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n", "<first@x>"),
        (b"Message-ID: no-brackets@example.org \r\n\r\n", "no-brackets@example.org"),
        (b"Message-ID: (comment) <c@example.org> trailing\r\n\r\n", "<c@example.org>"),
        (b"Message-ID: <nul\x00@x>\r\n\r\n", "<nul@x>"),
        (b"Message-ID: <caf\xe9@x>\r\n\r\n", "<caf\ufffd@x>"),
        (b"Message-ID: <only-headers@x>", "<only-headers@x>"),
        (b"Subject: none\r\n\r\nMessage-ID: <in-body@x>\r\n", ""),
        (b"X-Message-ID: <other@x>\r\n\r\n", ""),
        (b"", ""),
        (bytes(range(256)), ""),
    ],
)
def test_message_id_is_read_leniently(raw, message_id):
    assert parse_message_id(raw) == message_id


def test_message_id_after_ten_megabytes_of_headers_is_found():
    # A scan quadratic in the header count would not finish here.
    raw = b"Received: from somewhere\r\n" * 400_000 + b"Message-ID: <late@x>\r\n\r\nbody\r\n"
    assert parse_message_id(raw) == "<late@x>"


def test_an_overlong_message_id_is_cut_to_fit():
    assert len(parse_message_id(b"Message-ID: <" + b"x" * 5000 + b">\r\n\r\n")) == 998


def test_db_text_replaces_what_is_not_utf8_drops_nul_and_cuts():
    assert db_text("a\udce9b\x00c") == "a\ufffdbc"
    assert db_text("lone \ud800 surrogate") == "lone ? surrogate"
    assert db_text("abcdef", 4) == "abcd"
