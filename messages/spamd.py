"""SpamAssassin's verdict on a message: asked of spamd, or read from the
X-Spam-Status / X-Spam-Score headers that the site's own MTA added.

The client speaks the spamc/spamd protocol (SPAMC/1.5, as spamc 4.0 sends
it) over TCP or a unix socket and uses one command, SYMBOLS, whose answer
carries all we need: the score, spamd's own threshold, its yes/no and the
names of the rules that hit. One connection per check, as spamc does.

Why our own client and not aiospamc (the one maintained library): the rule
that asks runs in Dramatiq's worker threads, which are synchronous, so
aiospamc would mean an event loop started per post (`asyncio.run`) only to
wait on one socket, and it brings loguru and typer (its command line) into
every worker. The part of the protocol we use is one request and one short
reply; a blocking socket with a deadline does it in a few dozen lines, and
the tests run it against the real spamd that CI starts.

Whatever goes wrong talking to spamd (refused, no answer within the
timeout, a reply that is not spamd's) raises SpamdError; the caller
decides what an unavailable spam check means.
"""

from __future__ import annotations

import math
import re
import socket
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

from messages.pipeline.mime import clean_text, raw_header

DEFAULT_PORT = 783
# A SYMBOLS reply is a few headers and a line of rule names; anything much
# longer is not spamd talking.
MAX_REPLY = 64 * 1024
# Rule names shown in a reason, and the longest header value read.
MAX_RULES = 20
MAX_HEADER = 4096

STATUS_LINE = re.compile(rb"^SPAMD/(\d+)\.(\d+) +(-?\d+) +(.*)$")
# "Spam: True ; 1000.0 / 5.0" (spamd's answer header).
SPAM_HEADER = re.compile(rb"^(True|False|Yes|No) ; (-?\d{1,10}(?:\.\d{1,10})?) / (-?\d{1,10}(?:\.\d{1,10})?)$")
RULE_NAME = re.compile(r"^[A-Za-z0-9_]{1,100}$")
# X-Spam-Status: "Yes, score=7.1 required=5.0 tests=GTUBE,NO_RECEIVED
# autolearn=no version=4.0.1" (SpamAssassin's default _YESNO_, score=_SCORE_ ...);
# old versions wrote hits= for score=.
STATUS_FLAG = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)
STATUS_FIELD = re.compile(r"\b(score|hits|required|tests)=(\S*)", re.IGNORECASE)
# A number as SpamAssassin writes one; nothing that float() would also take
# ("nan", "inf", "1e999", "١٢").
NUMBER = re.compile(r"^[+-]?[0-9]{1,10}(?:\.[0-9]{1,10})?$")


class SpamdError(Exception):
    """spamd could not be asked, or did not answer as spamd does."""


@dataclass(frozen=True)
class SpamVerdict:
    """What SpamAssassin made of a message. `threshold` and `is_spam` are
    its own site-wide opinion; the list's scores decide what happens."""

    score: float
    threshold: float
    is_spam: bool
    rules: tuple[str, ...] = ()
    # Who gave it: "spamd" or the header it was read from.
    source: str = "spamd"


class SpamdClient:
    """Asks the spamd at `url` ("tcp://host:port" or "unix:///path"); each
    call gives up after `timeout` seconds in all, connecting included (but
    not looking up a host name, which is the system resolver's: give an IP
    address where that matters)."""

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.timeout = timeout
        self.family, self.address = parse_url(url)

    def check(self, message: bytes) -> SpamVerdict:
        """spamd's verdict on `message` (its raw bytes); SpamdError when there is none."""
        request = b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(message)
        return parse_reply(self.exchange(request + message))

    def ping(self) -> None:
        """Return when spamd answers PING; SpamdError otherwise."""
        reply = self.exchange(b"PING SPAMC/1.5\r\n\r\n")
        status = STATUS_LINE.match(reply.split(b"\r\n", 1)[0])
        if status is None or status[3] != b"0":
            raise SpamdError(f"spamd answered PING with {describe(reply)}")

    def exchange(self, request: bytes) -> bytes:
        """Send `request`, then read the reply until spamd closes the connection."""
        deadline = time.monotonic() + self.timeout
        try:
            with self.connect(deadline) as sock:
                sock.settimeout(remaining(deadline))
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                return read_reply(sock, deadline)
        except TimeoutError:
            raise SpamdError(f"spamd at {self.url} did not answer within {self.timeout:g} s") from None
        except (OSError, ValueError) as exc:
            # ValueError: a unix socket path the system cannot take (a NUL in it).
            raise SpamdError(f"spamd at {self.url} cannot be reached: {getattr(exc, 'strerror', None) or exc}") from exc

    def connect(self, deadline: float) -> socket.socket:
        if self.family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(remaining(deadline))
                sock.connect(self.address)
            except BaseException:
                sock.close()
                raise
            return sock
        return socket.create_connection(self.address, timeout=remaining(deadline))


def parse_url(url: str) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
    """The socket family and address of a SPAMD_URL; SpamdError when it is not one."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix" and parts.path:
            return socket.AF_UNIX, parts.path
        if parts.scheme == "tcp" and parts.hostname:
            return socket.AF_INET, (parts.hostname, parts.port or DEFAULT_PORT)
    except ValueError:
        pass
    raise SpamdError(f"{url!r} is not a spamd address (tcp://host:port or unix:///path)")


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def read_reply(sock: socket.socket, deadline: float) -> bytes:
    # The deadline bounds the whole read: a server that trickles bytes
    # cannot hold a worker longer than the timeout.
    chunks: list[bytes] = []
    size = 0
    while True:
        sock.settimeout(remaining(deadline))
        chunk = sock.recv(MAX_REPLY + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise SpamdError(f"spamd's reply is longer than {MAX_REPLY} bytes")


def parse_reply(reply: bytes) -> SpamVerdict:
    """The verdict in spamd's reply to SYMBOLS; SpamdError for anything else."""
    head, separator, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    status = STATUS_LINE.match(status_line)
    if status is None:
        raise SpamdError(f"the reply is not spamd's: {describe(reply)}")
    if status[3] != b"0":
        raise SpamdError(f"spamd refused the check: {describe(status_line)}")
    if not separator:
        raise SpamdError(f"spamd's reply is incomplete: {describe(reply)}")
    headers = {}
    for line in header_lines:
        name, _colon, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    spam = SPAM_HEADER.match(headers.get(b"spam", b""))
    if spam is None:
        raise SpamdError(f"spamd's reply has no verdict: {describe(reply)}")
    length = headers.get(b"content-length")
    if length is not None:
        if not length.isdigit() or int(length) > len(body):
            raise SpamdError(f"spamd's reply is cut short: {describe(reply)}")
        body = body[: int(length)]
    return SpamVerdict(
        score=float(spam[2]),
        threshold=float(spam[3]),
        is_spam=spam[1] in (b"True", b"Yes"),
        rules=rule_names(body.decode("ascii", "replace")),
    )


def rule_names(text: str) -> tuple[str, ...]:
    """The rule names in a comma (or space) separated list, junk left out."""
    names = (name.strip() for name in re.split(r"[,\s]+", text))
    return tuple(name for name in names if RULE_NAME.match(name))[:MAX_RULES]


def describe(data: bytes) -> str:
    """A short, printable quote of what came back, for logs and reasons."""
    text = data[:80].decode("ascii", "replace")
    return repr(text + ("..." if len(data) > 80 else ""))


def verdict_from_headers(msg: EmailMessage) -> SpamVerdict | None:
    """The verdict the site's MTA wrote into `msg`: the first (topmost, so
    most recently added) X-Spam-Status with a score, else X-Spam-Score.

    None when neither carries a number SpamAssassin could have written:
    values that are not plain decimals (NaN, infinity, exponents, other
    scripts' digits, garbage) are ignored, never trusted.
    """
    status = header_value(msg, "X-Spam-Status")
    if status:
        verdict = parse_spam_status(status)
        if verdict is not None:
            return verdict
    score = parse_number(header_value(msg, "X-Spam-Score"))
    if score is None:
        return None
    return SpamVerdict(score=score, threshold=math.nan, is_spam=False, source="X-Spam-Score")


def parse_spam_status(value: str) -> SpamVerdict | None:
    # A long tests= list is folded after its commas.
    value = re.sub(r",\s+", ",", value)
    flag = STATUS_FLAG.match(value)
    fields = {name.lower(): text for name, text in STATUS_FIELD.findall(value)}
    score = parse_number(fields.get("score", fields.get("hits", "")))
    if flag is None or score is None:
        return None
    required = parse_number(fields.get("required", ""))
    return SpamVerdict(
        score=score,
        threshold=math.nan if required is None else required,
        is_spam=flag[1].lower() == "yes",
        rules=rule_names(fields.get("tests", "")),
        source="X-Spam-Status",
    )


def header_value(msg: EmailMessage, name: str) -> str:
    return clean_text(raw_header(msg, name) or "")[:MAX_HEADER]


def parse_number(text: str) -> float | None:
    text = text.strip()
    return float(text) if NUMBER.match(text) else None
