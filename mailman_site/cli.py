"""Input and output of the operator commands (`manage.py lists`, `add_members`...).

One way to do each thing: tables, JSON and CSV on stdout, problem reports on
stderr, a progress bar for long jobs, address files read as UTF-8, and the
service layer's errors turned into CommandError (a message, never a
traceback). Writers take a Django OutputWrapper or any text stream; every
string they write ends in a newline, so OutputWrapper adds none.
"""

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import IO, Any

from django.core.management.base import CommandError
from tqdm import tqdm

from lists.services import ListError
from members.services import CONTROL_CHARACTERS, MembershipError

# Inputs with more lines than this get a progress bar on a terminal.
PROGRESS_THRESHOLD = 1000


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn the service layer's errors into CommandError with their message."""
    try:
        yield
    except (ListError, MembershipError) as exc:
        raise CommandError(str(exc)) from exc


def printable(text: str, limit: int | None = None) -> str:
    """`text` safe to echo to a terminal: control characters escaped as `\\x1b`,
    and clipped to `limit` characters (the full length is said)."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    return CONTROL_CHARACTERS.sub(lambda match: repr(match.group())[1:-1], text)


def read_lines(path: str | None, stdin: IO, stderr: IO) -> list[str]:
    """The lines of the file at `path`, or of `stdin` when `path` is None or
    "-", without their line endings. Input must be UTF-8 (a leading byte order
    mark is dropped); anything else is a CommandError naming the line."""
    if path in (None, "-"):
        if stdin.isatty():
            stderr.write("Reading addresses from the terminal; end with Ctrl-D.\n")
        # Bytes where there are bytes (a real stdin), so that decoding is ours.
        return _decode_lines(getattr(stdin, "buffer", stdin))
    try:
        with open(path, "rb") as stream:
            return _decode_lines(stream)
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from None


def _decode_lines(stream: Iterable[bytes | str]) -> list[str]:
    lines = []
    for number, raw in enumerate(stream, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CommandError(
                    f"Line {number} is not UTF-8 text (byte {exc.start + 1} of the line); nothing was changed."
                    " Convert the input first, for example with: iconv -f latin1 -t utf-8"
                ) from None
        if number == 1:
            raw = raw.removeprefix("\ufeff")
        lines.append(raw.rstrip("\r\n"))
    return lines


def report_invalid_lines(stderr: IO, invalid: Iterable[tuple[int, str, str]]) -> None:
    """One stderr line per (line number, text, reason), the text made printable."""
    for number, text, reason in invalid:
        stderr.write(f"line {number}: {reason}: {printable(text, limit=200)}\n")


def invalid_line_records(invalid: Iterable[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """(line number, text, reason) tuples as objects for JSON reports."""
    return [{"line": number, "text": text, "reason": reason} for number, text, reason in invalid]


@contextmanager
def progress_bar(
    total: int, stderr: IO, *, force: bool | None = None, unit: str = "address"
) -> Iterator[Callable[[int], Any] | None]:
    """Yield an `advance(n)` callable drawing a tqdm bar on `stderr`, or None
    when there is no bar: by default only for more than PROGRESS_THRESHOLD
    items on a terminal; `force` True or False decides instead."""
    show = force if force is not None else total > PROGRESS_THRESHOLD and stderr.isatty()
    if not show:
        yield None
        return
    with tqdm(total=total, file=stderr, unit=unit, unit_scale=True, dynamic_ncols=True) as bar:
        yield bar.update
        # `total` is usually a line count, an upper bound (blank lines,
        # comments and repeats are not counted), so end the bar where it got.
        if bar.n:
            bar.total = bar.n


def write_table(out: IO, headers: Sequence[str], rows: Iterable[Sequence[Any]], *, sample: int = 1000) -> None:
    """Write `rows` as aligned columns under `headers`.

    Column widths are fitted to the first `sample` rows so that a long roster
    streams; a longer value further down pushes only its own row out of line.
    """
    rows = iter(rows)
    head = [[printable(str(cell)) for cell in row] for row in islice(rows, sample)]
    widths = [max([len(header), *(len(row[i]) for row in head)]) for i, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip() + "\n"

    out.write(line(headers))
    out.write(line(["-" * width for width in widths]))
    for cells in head:
        out.write(line(cells))
    for row in rows:
        out.write(line([printable(str(cell)) for cell in row]))


def write_json(out: IO, value: Any) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_json_array(out: IO, items: Iterable[Mapping[str, Any]]) -> None:
    """Write `items` as a JSON array, one object a line, holding one at a time."""
    out.write("[\n")
    previous = None
    for item in items:
        if previous is not None:
            out.write(previous + ",\n")
        previous = "  " + json.dumps(item, ensure_ascii=False)
    if previous is not None:
        out.write(previous + "\n")
    out.write("]\n")


def write_csv(out: IO, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)


def standard_streams(options: Mapping[str, Any]) -> tuple[IO, IO]:
    """The raw stdin and stderr of a command: those given to call_command, or
    the process's own. (Django's self.stderr wrapper appends newlines, which
    would break the progress bar's redrawing.)"""
    return options.get("stdin") or sys.stdin, options.get("stderr") or sys.stderr
