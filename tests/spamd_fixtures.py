"""A real spamd for the spam tests, and loopback servers that misbehave.

- `spamd_url`: the spamd at SPAMD_TEST_URL (.ci/run starts Debian's spamd
  and sets it); when that is unset, a spamd this fixture starts on a free
  port, if the binary is installed; else every test that needs it FAILS,
  saying how to get one. Never a stand-in: the verdicts are SpamAssassin's.
- `loopback`: servers on real loopback sockets that answer what a test
  scripts (garbage, an error), trickle, or accept and never answer.
- `unix_relay`: a unix socket relayed to the real spamd.

Test modules load this with `pytest_plugins = ["tests.spamd_fixtures"]`.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from messages.spamd import SpamdClient, SpamdError
from tests.ports import free_port

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
GTUBE = CORPUS / "spam" / "gtube.eml"
# How long a spamd may take to start (it compiles its rules first).
STARTUP = 120
INSTALL_HINT = "install it (apt-get install spamassassin spamc) or set SPAMD_TEST_URL=tcp://host:port"


def wait_for_spamd(url: str, process: subprocess.Popen | None = None, patience: float = STARTUP) -> str | None:
    """None once the spamd at `url` answers PING within `patience` seconds; else the last error."""
    deadline = time.monotonic() + patience
    error = "not tried"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return f"spamd exited with status {process.returncode}"
        try:
            SpamdClient(url, timeout=10).ping()
            return None
        except SpamdError as exc:
            error = str(exc)
        time.sleep(0.2)
    return error


def spamd_binary() -> str | None:
    return shutil.which("spamd") or next((p for p in ("/usr/sbin/spamd", "/usr/bin/spamd") if os.path.exists(p)), None)


@pytest.fixture(scope="session")
def spamd_url(tmp_path_factory) -> Iterator[str]:
    url = os.environ.get("SPAMD_TEST_URL")
    if url:
        # It was started before the tests (.ci/run waits for it): no patience.
        error = wait_for_spamd(url, patience=5)
        if error:
            pytest.fail(f"SPAMD_TEST_URL={url} does not answer: {error}")
        yield url
        return
    binary = spamd_binary()
    if binary is None:
        pytest.fail(f"The spam tests need SpamAssassin's spamd and found none: {INSTALL_HINT}")
    workdir = tmp_path_factory.mktemp("spamd")
    port = free_port()
    # -L: local tests only, no DNS blocklists (CI has no network); in the
    # foreground, so the fixture can stop it.
    argv = [binary, f"--listen=127.0.0.1:{port}", "--local", "--max-children=1"]
    argv += [f"--pidfile={workdir / 'spamd.pid'}", f"--syslog={workdir / 'spamd.log'}"]
    if os.geteuid() == 0:
        argv += ["--username=nobody"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"tcp://127.0.0.1:{port}"
    try:
        error = wait_for_spamd(url, process)
        if error:
            log = workdir / "spamd.log"
            pytest.fail(f"spamd ({binary}) did not start: {error}\n{log.read_text() if log.exists() else ''}")
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def spamd(spamd_url, settings) -> str:
    """The real spamd set as the site's SPAMD_URL, with a timeout that lets a cold spamd child answer."""
    settings.SPAMD_URL = spamd_url
    settings.SPAMD_TIMEOUT = 60
    return spamd_url


class LoopbackServer:
    """A TCP server on loopback. Per connection it reads the request (until
    the client stops sending), then sends `reply` in `chunk`-byte pieces
    every `pause` seconds and closes; with `reply=None` it accepts and never
    answers, holding the connection open until `close()`."""

    def __init__(self, reply: bytes | None, *, chunk: int = 65536, pause: float = 0.0):
        self.reply, self.chunk, self.pause = reply, chunk, pause
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.closed.set()
        for sock in [self.listener, *self.connections]:
            sock.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while sock.recv(65536):
                pass
            if self.reply is None:
                self.closed.wait()
                return
            for start in range(0, len(self.reply), self.chunk):
                if self.closed.wait(self.pause):
                    return
                sock.sendall(self.reply[start : start + self.chunk])
            sock.close()
        except OSError:
            pass


@pytest.fixture
def loopback() -> Iterator:
    """`loopback(reply, chunk=..., pause=...)` starts a LoopbackServer; all are closed after the test."""
    servers: list[LoopbackServer] = []

    def start(reply: bytes | None, **options) -> LoopbackServer:
        servers.append(LoopbackServer(reply, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback address where nothing listens: connecting is refused."""
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture
def unix_relay(spamd_url) -> Iterator[str]:
    """unix:///... : a unix socket whose connections are relayed to the real spamd."""
    host, port = spamd_url.removeprefix("tcp://").rsplit(":", 1)
    # Short: a unix socket path must fit in 108 bytes.
    directory = tempfile.mkdtemp(prefix="spamd-", dir="/tmp")
    path = os.path.join(directory, "spamd.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((host, int(port)))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"unix://{path}"
    listener.close()
    shutil.rmtree(directory, ignore_errors=True)
