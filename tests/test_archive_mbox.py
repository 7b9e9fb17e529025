"""manage.py archive_import and archive_export: mbox in and out of a list's archive."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from archive.mbox import read_mbox
from archive.models import ArchivedMessage, Thread
from archive.services import archive_message
from lists.services import create_list
from tests.inbound_mail import corpus_message

pytest_plugins = ["tests.delivery_support"]

QUOTED_BODY = b"Lines that look like separators:\n\nFrom the start of a line\n>From one quote\n>>From two\n"


def entry(from_line: str, raw: bytes) -> bytes:
    return from_line.encode() + b"\n" + raw.rstrip(b"\n") + b"\n\n"


def plain(message_id: str, subject: str, body: bytes = b"Hello.\n", extra: str = "") -> bytes:
    head = f"From: Ant <ant@example.org>\nSubject: {subject}\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n"
    return (head + f"Message-ID: <{message_id}>\n{extra}\n").encode() + body


def mboxrd(*raws: bytes) -> bytes:
    """`raws` as an mbox, quoted the way mboxrd writers do."""
    out = b""
    for raw in raws:
        quoted = b"".join(
            b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in raw.splitlines(True)
        )
        out += entry("From ant@example.org Mon Jan  1 10:00:00 2024", quoted)
    return out


@pytest.fixture
def mbox_file(tmp_path) -> Path:
    path = tmp_path / "ant.mbox"
    path.write_bytes(
        mboxrd(
            plain("one@x", "Ants"),
            plain("two@x", "Re: Ants", extra="In-Reply-To: <one@x>\n"),
            bytes(range(1, 256)).replace(b"\n", b"") * 10 + b"\n",
            plain("three@x", "Quoting", body=QUOTED_BODY),
        )
    )
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_counts_imported_skipped_and_broken(mlist, mbox_file):
    out, err = run("archive_import", "ant@example.com", str(mbox_file))
    assert out.strip().endswith("3 imported, 0 skipped (already archived), 1 broken (kept)")
    assert "message 3 (byte" in err and "is broken" in err
    assert ArchivedMessage.objects.count() == 4
    assert ArchivedMessage.objects.get(message_id="two@x").parent.message_id == "one@x"
    assert ArchivedMessage.objects.filter(is_broken=True).count() == 1


def test_import_run_twice_adds_nothing(mlist, mbox_file):
    run("archive_import", "ant@example.com", str(mbox_file))
    out, _err = run("archive_import", "ant@example.com", str(mbox_file))
    assert out.strip().endswith("0 imported, 4 skipped (already archived), 0 broken (kept)")
    assert ArchivedMessage.objects.count() == 4
    assert Thread.objects.get(messages__message_id="one@x").message_count == 2


def test_from_quoting_is_undone_on_import(mlist, mbox_file):
    run("archive_import", "ant@example.com", str(mbox_file))
    raw = bytes(ArchivedMessage.objects.get(message_id="three@x").raw)
    assert raw.endswith(QUOTED_BODY)


def test_a_crlf_mbox_imports_the_same_messages(mlist, mbox_file, tmp_path):
    crlf = tmp_path / "crlf.mbox"
    crlf.write_bytes(mbox_file.read_bytes().replace(b"\n", b"\r\n"))
    out, _err = run("archive_import", "ant@example.com", str(crlf))
    assert out.strip().endswith("3 imported, 0 skipped (already archived), 1 broken (kept)")
    three = ArchivedMessage.objects.get(message_id="three@x")
    assert bytes(three.raw).endswith(QUOTED_BODY.replace(b"\n", b"\r\n"))
    assert three.body == QUOTED_BODY.decode()


def test_an_unquoted_from_line_inside_a_message_stays_in_it():
    raw = plain("p@x", "Pipermail", body=b"Hello.\nFrom here on, no quoting.\n")
    messages = list(read_mbox(io.BytesIO(entry("From ant at example.org  Mon Jan  1 10:00:00 2024", raw))))
    assert len(messages) == 1
    assert messages[0].raw.endswith(b"From here on, no quoting.\n")
    assert messages[0].received_at.year == 2024


def test_pipermail_archive_without_message_ids_imports_once(mlist, tmp_path):
    path = tmp_path / "2001-April.txt"
    body = b"From: barry at python.org (Barry)\nDate: Fri, 20 Apr 2001 19:35:02 -0400\nSubject: [Ant] Hi\n\nHi.\n"
    path.write_bytes(entry("From barry at python.org  Fri Apr 20 19:35:02 2001", body))
    run("archive_import", "ant@example.com", str(path))
    out, _err = run("archive_import", "ant@example.com", str(path))
    assert out.strip().endswith("0 imported, 1 skipped (already archived), 0 broken (kept)")
    assert ArchivedMessage.objects.get().subject == "[Ant] Hi"


def test_import_to_an_unknown_list_is_an_error(db, mbox_file):
    with pytest.raises(CommandError, match=r"nope@example\.com"):
        run("archive_import", "nope@example.com", str(mbox_file))


def test_import_to_an_unknown_list_exits_with_status_1(project_database, mbox_file):
    done = subprocess.run(
        [sys.executable, "manage.py", "archive_import", "nope@example.com", str(mbox_file)],
        cwd=settings.BASE_DIR,
        env=project_database.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "nope@example.com" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_prints_progress(mlist, mbox_file, monkeypatch):
    monkeypatch.setattr("archive.management.commands.archive_import.PROGRESS_EVERY", 2)
    out, _err = run("archive_import", "ant@example.com", str(mbox_file))
    first, second = out.splitlines()[:2]
    assert first.startswith("2 messages read (")
    assert second == "4 messages read (100%)"


def test_import_of_a_missing_file_is_an_error(mlist, tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.mbox"):
        run("archive_import", "ant@example.com", str(tmp_path / "missing.mbox"))


def test_export_and_import_round_trip(mlist, mbox_file, tmp_path):
    run("archive_import", "ant@example.com", str(mbox_file))
    exported = tmp_path / "export.mbox"
    _out, err = run("archive_export", "ant@example.com", "--output", str(exported))
    assert "4 messages exported" in err
    text = exported.read_bytes()
    assert b"\n>From the start of a line\n>>From one quote\n>>>From two\n" in text
    copy = create_list("copy@example.com")
    out, _err = run("archive_import", "copy@example.com", str(exported))
    assert out.strip().endswith("3 imported, 0 skipped (already archived), 1 broken (kept)")
    for original in ArchivedMessage.objects.filter(mailing_list=mlist):
        again = ArchivedMessage.objects.get(mailing_list=copy, message_id_hash=original.message_id_hash)
        assert bytes(again.raw).rstrip(b"\n") == bytes(original.raw).rstrip(b"\n")


def test_export_of_one_month(mlist, tmp_path):
    archive_message(mlist, corpus_message("msg_07.txt"))
    archive_message(mlist, plain("new@x", "New"))
    exported = tmp_path / "april.mbox"
    _out, err = run("archive_export", "ant@example.com", "--month", "2001-04", "--output", str(exported))
    assert "1 messages exported" in err
    assert b"Here is your dingus fish" in exported.read_bytes()
    with pytest.raises(CommandError, match="YYYY-MM"):
        run("archive_export", "ant@example.com", "--month", "April")
