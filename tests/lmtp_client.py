"""Talking to a real LMTP receiver on a loopback port, as an MTA does.

The client is Python's smtplib.LMTP. It reads one reply after DATA; LMTP
sends one per accepted recipient, so `deliver()` reads the others itself.
"""

import re
import smtplib
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import pytest
from django.db import connections
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from messages.inbound import wait_until_queued
from messages.lmtp import LMTPServer
from messages.tasks import process_inbound


@dataclass
class Delivery:
    """What the server answered in one LMTP transaction."""

    rcpt: dict[str, tuple[int, str]] = field(default_factory=dict)
    data: list[tuple[int, str]] = field(default_factory=list)

    @property
    def data_codes(self) -> list[int]:
        return [code for code, _ in self.data]


def deliver(
    client: smtplib.LMTP, recipients: Iterable[str], raw: bytes, *, mail_from: str = "sender@example.org"
) -> Delivery:
    """MAIL, RCPT for each recipient, and DATA if any was accepted."""
    delivery = Delivery()
    code, reply = client.mail(mail_from)
    assert code == 250, reply
    for address in recipients:
        code, reply = client.rcpt(address)
        delivery.rcpt[address] = (code, reply.decode())
    accepted = sum(1 for code, _ in delivery.rcpt.values() if code == 250)
    if not accepted:
        client.rset()
        return delivery
    code, reply = client.data(raw)
    delivery.data.append((code, reply.decode()))
    for _ in range(accepted - 1):
        code, reply = client.getreply()
        delivery.data.append((code, reply.decode()))
    return delivery


def make_message(message_id: str | None = "<1@example.org>", body: str = "Hello ants.\r\n") -> bytes:
    lines = ["From: Sender <sender@example.org>", "To: ant@example.com", "Subject: Hello"]
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def as_mta_sends(raw: bytes) -> bytes:
    """`raw` with CRLF line ends, as an MTA hands a message over (RFC 5321
    section 2.3.8)."""
    crlf = re.sub(rb"\r?\n", b"\r\n", raw)
    return crlf if crlf.endswith(b"\r\n") else crlf + b"\r\n"


def queued_ids(broker: StubBroker) -> list[int]:
    """The inbound ids sent to the process_inbound actor, oldest first, once
    the receiver has sent every nudge it was given (it sends them after the 250)."""
    wait_until_queued()
    return [Message.decode(data).args[0] for data in list(broker.queues["inbound"].queue)]


@contextmanager
def database_settings(**changes) -> Iterator[dict]:
    """Connections opened from here on, in threads that have none yet (a
    server started inside the block), use the default database with
    `changes`; the test's own connection is left as it is."""
    original = connections.settings["default"]
    changed = {**original, **changes}
    connections.settings["default"] = changed
    try:
        yield changed
    finally:
        connections.settings["default"] = original


class DatabaseProxy:
    """A TCP proxy in front of the database that a test can cut and restore.

    `cut()` drops every connection through it and refuses new ones until
    `restore()`. `cut_at(pattern, occurrence)` cuts when the client is about
    to send `pattern` for the `occurrence`-th time, before it is forwarded.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.trigger: tuple[bytes, int] | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            self.open = False
            self.trigger = None
            for sock in self.sockets:
                _close(sock)
            self.sockets.clear()

    def restore(self) -> None:
        with self.lock:
            self.open = True

    def cut_at(self, pattern: bytes, occurrence: int = 1) -> None:
        with self.lock:
            self.trigger = (pattern, occurrence)

    def close(self) -> None:
        self.cut()
        _close(self.listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    _close(client)
                    continue
                server = socket.create_connection(self.target)
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self._should_cut(data):
                    self.cut()
                    return
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)

    def _should_cut(self, data: bytes) -> bool:
        with self.lock:
            if self.trigger is None or self.trigger[0] not in data:
                return False
            pattern, occurrence = self.trigger
            self.trigger = (pattern, occurrence - data.count(pattern))
            return self.trigger[1] <= 0


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def use_stub_broker(monkeypatch: pytest.MonkeyPatch) -> StubBroker:
    """Give the process_inbound actor a fresh in-process broker for one test:
    what the test finds in its "inbound" queue it sent itself, whatever
    BROKER_URL says."""
    broker = StubBroker()
    broker.declare_queue("inbound")
    monkeypatch.setattr(process_inbound, "broker", broker)
    return broker


@contextmanager
def running_lmtp_server(**options) -> Iterator[LMTPServer]:
    """An LMTP server on a free loopback port. Its threads see only what the
    test committed: use it in transactional tests."""
    server = LMTPServer("127.0.0.1", 0, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def connected(server: LMTPServer) -> Iterator[smtplib.LMTP]:
    """A client connected to `server`, after LHLO."""
    client = smtplib.LMTP("127.0.0.1", server.port, timeout=30)
    try:
        code, _ = client.ehlo("mta.example.net")
        assert code == 250
        yield client
    finally:
        with suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()
