"""The batched import (archive.bulk_import) archives exactly what
archive_message does one message at a time: threads, parents, adoptions,
merges, counts, roots, references, attachments, skips and broken messages."""

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from haystack import connections

from archive.bulk_import import archive_messages
from archive.models import ArchivedMessage, Attachment, ListArchive, Reference, Thread
from archive.search import search
from archive.services import archive_message
from lists.services import create_list

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def message(number: int, *, parents: list[int] = (), sender: int = 0, attachment: bool = False) -> bytes:
    """Message <m{number}@x>, replying to `parents` (oldest first, the parent last)."""
    date = (START + timedelta(minutes=number)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    headers = [
        f"From: Person {sender} <p{sender}@example.org>",
        f"Subject: {'Re: ' if parents else ''}topic {number % 17}",
        f"Date: {date}",
        f"Message-ID: <m{number}@x>",
    ]
    if parents:
        headers.append(f"In-Reply-To: <m{parents[-1]}@x>")
        headers.append("References: " + " ".join(f"<m{p}@x>" for p in parents))
    if attachment:
        headers += ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"']
        body = (
            f"--b\nContent-Type: text/plain\n\nmessage {number}\n"
            "--b\nContent-Type: application/octet-stream\n"
            f'Content-Disposition: attachment; filename="f{number}.bin"\n\n'
            "AAAA\n--b--\n"
        )
    else:
        body = f"message {number}\n> quoted\n"
    return ("\n".join(headers) + "\n\n" + body).encode()


def generated_archive(seed: int = 7) -> list[bytes]:
    """Threads with missing parents, References loops, merges, duplicates,
    broken messages, attachments and a 1,500-deep chain, out of order."""
    rng = random.Random(seed)
    raws = []
    ancestry: dict[int, list[int]] = {}
    for number in range(1, 400):
        if number > 5 and rng.random() < 0.7:
            parent = rng.randrange(1, number)
            chain = (ancestry[parent] + [parent])[-rng.randrange(1, 6) :]
        else:
            chain = []
        ancestry[number] = chain
        if number % 13 == 0:
            continue  # never archived: its replies wait for it in vain
        raws.append(message(number, parents=chain, sender=rng.randrange(9), attachment=number % 29 == 0))
    # References loops: a message naming itself, and two naming each other.
    raws.append(message(500, parents=[501, 500]))
    raws.append(message(501, parents=[500]))
    # A message joining two unrelated threads.
    raws.append(message(502, parents=[3, 4]))
    rng.shuffle(raws)
    chain = [message(1000 + depth, parents=[1000 + depth - 1] if depth else []) for depth in range(1500)]
    # The chain arrives mostly in order, with its head last (a late parent).
    raws += chain[1:] + chain[:1]
    raws += [b"\x00\xff not a message", message(7), message(8, parents=[1, 2])]
    return raws


def snapshot(mlist) -> dict:
    """The archive of `mlist`, by Message-ID, without database ids."""
    messages = ArchivedMessage.objects.filter(mailing_list=mlist).select_related("parent", "thread__root")
    by_message = {}
    for archived in messages:
        thread = archived.thread
        by_message[archived.message_id] = (
            archived.parent.message_id if archived.parent else None,
            thread.root.message_id if thread.root else None,
            thread.message_count,
            thread.participant_count,
            thread.started_at,
            thread.last_activity,
            thread.subject,
            archived.is_broken,
            archived.error,
            archived.body,
            archived.subject,
            archived.sender_address,
            archived.date,
            sorted(
                Reference.objects.filter(message=archived).values_list("ref_hash", "distance"),
            ),
            sorted(Attachment.objects.filter(message=archived).values_list("counter", "filename", "size")),
        )
    threads = sorted(
        sorted(thread.messages.values_list("message_id", flat=True))
        for thread in Thread.objects.filter(mailing_list=mlist)
    )
    archive = ListArchive.objects.get(mailing_list=mlist)
    return {
        "messages": by_message,
        "threads": threads,
        "counts": (archive.message_count, archive.thread_count),
    }


@pytest.fixture
def twin(domain):
    return create_list("twin@example.com")


def one_by_one(mlist, raws: list[bytes]) -> list[bool]:
    return [archive_message(mlist, raw, received_at=START).created for raw in raws]


def batched(mlist, raws: list[bytes], size: int) -> list[bool]:
    created = []
    for start in range(0, len(raws), size):
        created += [
            archived.created
            for archived in archive_messages(mlist, [(raw, START) for raw in raws[start : start + size]])
        ]
    return created


@pytest.mark.parametrize("size", [7, 5000])
def test_batched_import_archives_what_one_by_one_does(mlist, twin, size):
    raws = generated_archive()
    assert batched(twin, raws, size) == one_by_one(mlist, raws)
    expected, got = snapshot(mlist), snapshot(twin)
    assert got["counts"] == expected["counts"]
    assert got["threads"] == expected["threads"]
    assert got["messages"] == expected["messages"]


def test_the_deep_chain_is_one_thread_under_its_late_head(mlist):
    raws = generated_archive()
    batched(mlist, raws, 500)
    head = ArchivedMessage.objects.get(message_id="m1000@x")
    deepest = ArchivedMessage.objects.get(message_id="m2499@x")
    assert deepest.thread_id == head.thread_id
    assert head.thread.message_count == 1500
    assert head.thread.root_id == head.pk
    assert ArchivedMessage.objects.get(message_id="m1001@x").parent_id == head.pk


def test_a_second_import_adds_nothing(mlist):
    raws = generated_archive()
    batched(mlist, raws, 300)
    before = snapshot(mlist)
    assert not any(batched(mlist, raws, 300))
    assert snapshot(mlist) == before


def test_a_batch_continues_threads_archived_one_by_one(mlist, twin):
    raws = generated_archive(seed=11)
    half = len(raws) // 2
    one_by_one(mlist, raws)
    one_by_one(twin, raws[:half])
    batched(twin, raws[half:], 200)
    assert snapshot(twin) == snapshot(mlist)


@pytest.mark.django_db(transaction=True)
def test_the_import_command_archives_and_indexes_every_message(mlist, tmp_path):
    """Outside a transaction, on a database another process can open
    (PostgreSQL here; the in-memory SQLite of tests indexes in process),
    indexing runs in a process of its own beside the archiving."""
    raws = [raw for raw in generated_archive()[:600] if raw.startswith(b"From:")]
    mbox = tmp_path / "import.mbox"
    mbox.write_bytes(b"".join(b"From x@example.org Fri Mar  1 09:00:00 2024\n" + raw + b"\n" for raw in raws))
    out = io.StringIO()
    call_command("archive_import", "ant@example.com", str(mbox), stdout=out, stderr=io.StringIO())
    assert f"{len(raws):,} indexed for search" in out.getvalue()
    assert not ArchivedMessage.objects.filter(indexed=False).exists()
    assert connections["default"].get_backend().document_count() == len(raws)
    assert search(AnonymousUser(), "message 17").hits
