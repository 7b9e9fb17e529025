"""Reading and writing mbox files, one message at a time.

Read: Mailman 2 (pipermail's listname.mbox and its monthly .txt files),
HyperKitty's and Python mailbox's exports, any mbox. A message starts at a
"From " line after a blank line (or at the top of the file) that ends in a
date, as every writer's From_ lines do, so a body line beginning "From "
that a careless writer did not quote stays in its message. ">From ",
">>From "... lose one ">" (mboxrd; for mboxo files only ">From " was quoted
and reads the same). CRLF files read as well as LF ones.

Write: mboxrd, LF line endings; every ">*From " line of a message gains a
">", so reading the file back gives each message as it was.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from django.db.models import QuerySet

# "From sender Mon Jan  1 00:00:00 2001", pipermail's "From a at b.org  Mon...",
# and writers that add a zone after the year.
FROM_LINE = re.compile(rb"^From \S*\s+.*\d{1,2}:\d{2}(:\d{2})?\s+.*\d{4}\b")
QUOTED_FROM = re.compile(rb"^>+From ")
ESCAPED = re.compile(rb"^(>*From )", re.MULTILINE)
# Lines are read in chunks of this at most; a longer line arrives in pieces.
CHUNK = 1 << 20


@dataclass
class MboxMessage:
    raw: bytes
    # The date on its From_ line, when it has a readable one.
    received_at: datetime | None
    # Where the message ends in the file, for progress.
    offset: int


def read_mbox(stream: BinaryIO) -> Iterator[MboxMessage]:
    """The messages of the mbox `stream`, in order, each as its bytes."""
    lines: list[bytes] = []
    received_at: datetime | None = None
    at_line_start = previous_blank = True
    offset = 0
    while chunk := stream.readline(CHUNK):
        offset += len(chunk)
        starts_line, at_line_start = at_line_start, chunk.endswith(b"\n")
        if starts_line and previous_blank and FROM_LINE.match(chunk):
            if has_content(lines):
                yield MboxMessage(without_separator(lines), received_at, offset - len(chunk))
            lines, received_at = [], from_line_date(chunk)
            previous_blank = False
            continue
        if starts_line and QUOTED_FROM.match(chunk):
            chunk = chunk[1:]
        lines.append(chunk)
        if starts_line:
            previous_blank = chunk in (b"\n", b"\r\n")
    if has_content(lines):
        yield MboxMessage(without_separator(lines), received_at, offset)


def has_content(lines: list[bytes]) -> bool:
    return any(line.strip() for line in lines)


def without_separator(lines: list[bytes]) -> bytes:
    """The message's bytes, less the blank line the mbox puts before the next From_ line."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def from_line_date(line: bytes) -> datetime | None:
    """The date of a From_ line ("From sender Mon Jan  1 00:00:00 2001"), in UTC."""
    parts = line.decode("ascii", "replace").split()
    if len(parts) < 3:
        return None
    for start in (2, 3, 4):
        # The sender may hold spaces (pipermail's "a at b.org"): try the date further on.
        try:
            date = parsedate_to_datetime(" ".join(parts[start:]))
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        return date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)
    return None


def mbox_entry(raw: bytes, sender: str, date: datetime) -> bytes:
    """One message as an mboxrd entry: its From_ line, its lines with LF
    endings and From-quoting, and the blank line that ends it."""
    body = raw.replace(b"\r\n", b"\n")
    if not body.endswith(b"\n"):
        body += b"\n"
    body = ESCAPED.sub(rb">\1", body)
    sender = "".join(sender.split()) or "MAILER-DAEMON"
    stamp = time.asctime(date.astimezone(UTC).timetuple())
    return f"From {sender} {stamp}\n".encode("ascii", "replace") + body + b"\n"


def mbox_stream(messages: QuerySet) -> Iterator[bytes]:
    """The archived `messages` as mboxrd entries, oldest first, read from the
    database a chunk at a time, for a streamed download or a file."""
    rows = messages.order_by("date", "pk").values_list("raw", "sender_address", "date")
    for raw, sender, date in rows.iterator(chunk_size=200):
        yield mbox_entry(bytes(raw), sender, date)
