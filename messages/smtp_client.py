"""A small SMTP client for outgoing delivery.

It pipelines (RFC 2920): MAIL FROM, every RCPT TO and DATA go out in one
write, and the next transaction's commands follow the previous message's
content in the same write, so a transaction costs one round trip. Servers
that do not offer PIPELINING get the classic lock-step dialogue.

Every transaction gets a per-recipient outcome: accepted, or refused with the
reply that decided it. A connection that breaks mid-way is reported the same
way (a local 4xx for the transactions whose outcome was not confirmed), so
the caller has one shape of result to record and retry.

Each thread keeps one open connection (`get_connection()`), checked with
RSET before reuse and reopened when stale, so a Dramatiq worker thread
sends batch after batch without a new TCP and TLS handshake.
"""

import base64
import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail.utils import DNS_NAME

logger = logging.getLogger(__name__)

CRLF = b"\r\n"
LINE_ENDING = re.compile(rb"\r\n|\r|\n")
# RFC 5321 section 4.5.3.1.5: a reply line is at most 512 octets; be lenient.
MAX_REPLY_LINE = 8192
# Large messages are written in slices, so the timeout bounds each slice
# rather than the whole transfer.
WRITE_SLICE = 256 * 1024


class SMTPClientError(Exception):
    """Base of this module's errors."""


class SMTPConnectError(SMTPClientError):
    """No usable session: refused, timed out, or the greeting, EHLO,
    STARTTLS or AUTH failed. Always worth retrying later: it says nothing
    about the recipients."""

    def __init__(self, text: str, code: int = 421):
        super().__init__(text)
        self.code = code


class SMTPConnectionLost(SMTPClientError):
    """The server closed the connection or answered with garbage."""


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


@dataclass(frozen=True)
class Envelope:
    """One transaction: `data` is the message in wire form (see wire_data())."""

    sender: str
    recipients: Sequence[str]
    data: bytes


@dataclass
class TransactionResult:
    """The outcome of one transaction: every recipient is either accepted
    or refused with the reply that decided it."""

    envelope: Envelope
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, Reply] = field(default_factory=dict)
    # True once the server's last word on this transaction has been read.
    confirmed: bool = False

    def refuse_all(self, reply: Reply) -> None:
        for rcpt in self.envelope.recipients:
            self.refused.setdefault(rcpt, reply)
        self.accepted = []


def wire_data(message: bytes) -> bytes:
    """`message` as it travels after DATA: CRLF line endings, dot-stuffed
    (RFC 5321 section 4.5.2), ending in CRLF, without the final ".".
    """
    data = LINE_ENDING.sub(CRLF, message)
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(CRLF):
        data += CRLF
    return data


def lost_reply(exc: BaseException) -> Reply:
    """The local reply recorded for recipients whose outcome a broken connection hid."""
    return Reply(451, f"4.4.2 connection lost before the server confirmed: {exc}")


class SMTPConnection:
    """One SMTP session. Not thread-safe: one per thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        use_ssl: bool = False,
        use_tls: bool = False,
        username: str = "",
        password: str = "",
        local_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.use_ssl = use_ssl
        self.use_tls = use_tls
        self.username = username
        self.password = password
        self.local_hostname = local_hostname
        self.ssl_context = ssl_context
        self.extensions: dict[str, str] = {}
        self._sock: socket.socket | None = None
        self._file = None

    # Session set-up

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.extensions

    def open(self) -> None:
        """Connect, greet, secure and authenticate; SMTPConnectError on any failure."""
        try:
            self._connect()
            self._expect(self._read_reply(), 220, "greeting")
            self._hello()
            if self.use_tls and not self.use_ssl:
                self._starttls()
            if self.username:
                self._authenticate()
        except SMTPConnectError:
            self._abandon()
            raise
        except (OSError, SMTPConnectionLost) as exc:
            self._abandon()
            raise SMTPConnectError(f"{self.host}:{self.port}: {exc}") from exc

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.use_ssl:
            sock = self._tls_context().wrap_socket(sock, server_hostname=self.host)
        self._attach(sock)

    def _attach(self, sock: socket.socket) -> None:
        sock.settimeout(self.timeout)
        self._sock = sock
        self._file = sock.makefile("rb")

    def _tls_context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _hello(self) -> None:
        name = self.local_hostname or str(DNS_NAME)
        self._write(b"EHLO " + name.encode("ascii", "replace") + CRLF)
        reply = self._read_reply()
        if reply.code == 250:
            self.extensions = self._parse_extensions(reply.text)
            return
        self._write(b"HELO " + name.encode("ascii", "replace") + CRLF)
        self._expect(self._read_reply(), 250, "HELO")
        self.extensions = {}

    @staticmethod
    def _parse_extensions(text: str) -> dict[str, str]:
        # The first line is the server's greeting name; each further line is
        # one extension keyword with optional parameters.
        extensions = {}
        for line in text.split("\n")[1:]:
            keyword, _, params = line.strip().partition(" ")
            if keyword:
                extensions[keyword.upper()] = params
        return extensions

    def _starttls(self) -> None:
        if "STARTTLS" not in self.extensions:
            # Never fall back to sending in clear when TLS was asked for.
            raise SMTPConnectError(f"{self.host}:{self.port} does not offer STARTTLS")
        self._write(b"STARTTLS\r\n")
        self._expect(self._read_reply(), 220, "STARTTLS")
        sock = self._tls_context().wrap_socket(self._sock, server_hostname=self.host)
        self._attach(sock)
        self._hello()

    def _authenticate(self) -> None:
        mechanisms = self.extensions.get("AUTH", "").upper().split()
        user, password = self.username.encode(), self.password.encode()
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + password)
            self._write(b"AUTH PLAIN " + token + CRLF)
        elif "LOGIN" in mechanisms:
            self._write(b"AUTH LOGIN\r\n")
            self._expect(self._read_reply(), 334, "AUTH LOGIN")
            self._write(base64.b64encode(user) + CRLF)
            self._expect(self._read_reply(), 334, "AUTH LOGIN user name")
            self._write(base64.b64encode(password) + CRLF)
        else:
            raise SMTPConnectError(f"{self.host}:{self.port} offers no AUTH PLAIN or LOGIN")
        self._expect(self._read_reply(), 235, "AUTH")

    def _expect(self, reply: Reply, code: int, step: str) -> None:
        if reply.code != code:
            raise SMTPConnectError(f"{self.host}:{self.port} refused {step}: {reply}", reply.code)

    # Health and shutdown

    def check(self) -> bool:
        """RSET on the open session; False (and closed) if it no longer answers."""
        if not self.is_open:
            return False
        try:
            self._write(b"RSET\r\n")
            if self._read_reply().code == 250:
                return True
        except (OSError, SMTPConnectionLost):
            pass
        self._abandon()
        return False

    def close(self) -> None:
        """QUIT politely, then close; never raises."""
        if not self.is_open:
            return
        try:
            self._write(b"QUIT\r\n")
            self._read_reply()
        except (OSError, SMTPConnectionLost):
            pass
        self._abandon()

    def _abandon(self) -> None:
        for closable in (self._file, self._sock):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass
        self._sock = self._file = None

    # Transactions

    def send(self, envelopes: Iterable[Envelope]) -> list[TransactionResult]:
        """Send each envelope as one transaction on this session.

        Returns one result per envelope taken from `envelopes`. If the
        connection breaks, the transactions in flight are refused with a
        local 451, the connection is closed and the iteration stops: the
        rest of `envelopes` stays untaken, so a caller can reconnect and
        pass the same iterator again.
        """
        if not self.is_open:
            raise SMTPConnectionLost("not connected")
        if self.pipelining:
            return self._send_pipelined(envelopes)
        return self._send_lockstep(envelopes)

    def _mail_command(self, envelope: Envelope) -> bytes:
        params = []
        if "SIZE" in self.extensions:
            params.append(f"SIZE={len(envelope.data)}")
        if not envelope.data.isascii() and "8BITMIME" in self.extensions:
            params.append("BODY=8BITMIME")
        addresses = [envelope.sender, *envelope.recipients]
        if not all(a.isascii() for a in addresses) and "SMTPUTF8" in self.extensions:
            params.append("SMTPUTF8")
        line = f"MAIL FROM:<{envelope.sender}>" + "".join(" " + p for p in params)
        return line.encode() + CRLF

    @staticmethod
    def _rcpt_commands(envelope: Envelope) -> bytes:
        return b"".join(f"RCPT TO:<{rcpt}>\r\n".encode() for rcpt in envelope.recipients)

    def _send_pipelined(self, envelopes: Iterable[Envelope]) -> list[TransactionResult]:
        results: list[TransactionResult] = []
        # The transaction whose DATA got 354 and whose content is still to be
        # written: RFC 2920 section 3.1 lets content start the next group.
        pending: TransactionResult | None = None
        need_rset = False
        try:
            for envelope in envelopes:
                result = TransactionResult(envelope)
                results.append(result)
                group = []
                if pending is not None:
                    group += [pending.envelope.data, b".\r\n"]
                if need_rset:
                    group.append(b"RSET\r\n")
                group += [self._mail_command(envelope), self._rcpt_commands(envelope), b"DATA\r\n"]
                self._write(b"".join(group))
                if pending is not None:
                    self._finish(pending, self._read_reply())
                    pending = None
                if need_rset:
                    self._read_reply()
                pending, need_rset = self._read_transaction_replies(result)
            if pending is not None:
                self._write(pending.envelope.data + b".\r\n")
                self._finish(pending, self._read_reply())
        except (OSError, SMTPConnectionLost) as exc:
            self._abandon()
            for result in results:
                self._refuse_unconfirmed(result, exc)
        except BaseException:
            # Whatever interrupted us (a lost claim, a time limit), the
            # session is mid-dialogue and cannot be reused.
            self._abandon()
            raise
        return results

    def _read_transaction_replies(self, result: TransactionResult) -> tuple[TransactionResult | None, bool]:
        """Read MAIL, RCPT and DATA replies; return (pending, need_rset)."""
        mail = self._read_reply()
        rcpt_replies = [(rcpt, self._read_reply()) for rcpt in result.envelope.recipients]
        data = self._read_reply()
        if mail.code != 250:
            result.refuse_all(mail)
        else:
            for rcpt, reply in rcpt_replies:
                if reply.code in (250, 251):
                    result.accepted.append(rcpt)
                else:
                    result.refused[rcpt] = reply
        if data.code != 354:
            if mail.code == 250:
                result.refuse_all(data)
            result.confirmed = True
            return None, True
        if not result.accepted:
            # A server that says 354 with no valid recipient gets an empty
            # message, which it must refuse (RFC 2920 section 3.1).
            self._write(b".\r\n")
            self._read_reply()
            result.confirmed = True
            return None, True
        return result, False

    def _finish(self, result: TransactionResult, reply: Reply) -> None:
        if reply.code != 250:
            for rcpt in result.accepted:
                result.refused[rcpt] = reply
            result.accepted = []
        result.confirmed = True

    @staticmethod
    def _refuse_unconfirmed(result: TransactionResult, exc: BaseException) -> None:
        if result.confirmed:
            return
        reply = lost_reply(exc)
        for rcpt in result.envelope.recipients:
            if rcpt not in result.refused:
                result.refused[rcpt] = reply
        result.accepted = []

    def _send_lockstep(self, envelopes: Iterable[Envelope]) -> list[TransactionResult]:
        results: list[TransactionResult] = []
        try:
            for envelope in envelopes:
                result = TransactionResult(envelope)
                results.append(result)
                self._lockstep_transaction(result)
        except (OSError, SMTPConnectionLost) as exc:
            self._abandon()
            if results:
                self._refuse_unconfirmed(results[-1], exc)
        except BaseException:
            self._abandon()
            raise
        return results

    def _lockstep_transaction(self, result: TransactionResult) -> None:
        envelope = result.envelope
        self._write(self._mail_command(envelope))
        mail = self._read_reply()
        if mail.code != 250:
            result.refuse_all(mail)
            result.confirmed = True
            self._reset()
            return
        for rcpt in envelope.recipients:
            self._write(f"RCPT TO:<{rcpt}>\r\n".encode())
            reply = self._read_reply()
            if reply.code in (250, 251):
                result.accepted.append(rcpt)
            else:
                result.refused[rcpt] = reply
        if not result.accepted:
            result.confirmed = True
            self._reset()
            return
        self._write(b"DATA\r\n")
        data = self._read_reply()
        if data.code != 354:
            result.refuse_all(data)
            result.confirmed = True
            self._reset()
            return
        self._write(envelope.data + b".\r\n")
        self._finish(result, self._read_reply())

    def _reset(self) -> None:
        self._write(b"RSET\r\n")
        self._read_reply()

    # Wire

    def _write(self, data: bytes) -> None:
        if len(data) <= WRITE_SLICE:
            self._sock.sendall(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), WRITE_SLICE):
            self._sock.sendall(view[start : start + WRITE_SLICE])

    def _read_reply(self) -> Reply:
        lines = []
        while True:
            line = self._file.readline(MAX_REPLY_LINE)
            if not line:
                raise SMTPConnectionLost("connection closed by the server")
            code, more, text = line[:3], line[3:4], line[4:].rstrip(b"\r\n")
            if not code.isdigit():
                raise SMTPConnectionLost(f"malformed reply {line[:80]!r}")
            lines.append(text.decode("utf-8", "replace"))
            if more != b"-":
                return Reply(int(code), "\n".join(lines))


# One connection per thread, to the server the settings name.

_local = threading.local()


def connection_settings() -> dict:
    """The keyword arguments of SMTPConnection from Django's EMAIL_* settings."""
    return {
        "host": settings.EMAIL_HOST,
        "port": settings.EMAIL_PORT,
        "timeout": settings.EMAIL_TIMEOUT,
        "use_ssl": settings.EMAIL_USE_SSL,
        "use_tls": settings.EMAIL_USE_TLS,
        "username": settings.EMAIL_HOST_USER,
        "password": settings.EMAIL_HOST_PASSWORD,
    }


def get_connection() -> SMTPConnection:
    """This thread's open session with the configured server: the kept one
    if it still answers RSET, else a new one. Raises SMTPConnectError."""
    wanted = connection_settings()
    connection: SMTPConnection | None = getattr(_local, "connection", None)
    if connection is not None and (_local.settings != wanted or not connection.check()):
        connection.close()
        connection = None
    if connection is None:
        connection = SMTPConnection(**wanted)
        connection.open()
        _local.connection, _local.settings = connection, wanted
    return connection


def close_connection() -> None:
    """Close this thread's kept session, if any."""
    connection = getattr(_local, "connection", None)
    if connection is not None:
        connection.close()
        _local.connection = None
