"""Real SMTP servers on loopback for the delivery tests, as pytest fixtures.

- `sink`: /work/shared/bench/sink.py (or ../shared/bench/sink.py beside the
  checkout) as a subprocess: PIPELINING, counts, records every accepted
  recipient, optional random 4xx/5xx answers.
- `smtpd`: an aiosmtpd server in a thread of the test process, keeping every
  message that arrived and answering scripted replies per recipient. It does
  not offer PIPELINING, so it also exercises the lock-step dialogue.

Test modules load this with `pytest_plugins = ["tests.delivery_support"]`.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.ports import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
SINK = BASE_DIR.parent / "shared" / "bench" / "sink.py"
CORPUS = BASE_DIR.parent / "shared" / "corpus"


def corpus_message(name: str) -> bytes:
    return (CORPUS / "mime" / name).read_bytes()


def use_smtp_server(settings, port: int) -> None:
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_SSL = settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10


class Sink:
    """The benchmark sink as a subprocess; `recorded()` lists accepted recipients."""

    def __init__(self, workdir: Path, *, tempfail: float = 0.0, permfail: float = 0.0, seed: int = 1):
        self.port = free_port()
        self.status_path = workdir / f"sink-{self.port}.json"
        self.record_path = workdir / f"sink-{self.port}.rcpts"
        self.process = subprocess.Popen(
            [
                *[sys.executable, str(SINK), "--port", str(self.port), "--status", str(self.status_path)],
                *["--record", str(self.record_path), "--tempfail", str(tempfail), "--permfail", str(permfail)],
                *["--seed", str(seed)],
            ]
        )
        # The sink writes its first status once it listens.
        deadline = time.monotonic() + 10
        while not self.status_path.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"sink.py did not start on port {self.port}")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def status(self) -> dict:
        return json.loads(self.status_path.read_text())

    def wait_for(self, recipients: int, timeout: float = 60) -> dict:
        """Wait until the sink has counted `recipients` (and its record caught up)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["recipients"] >= recipients:
                time.sleep(0.25)  # the record file is flushed every 100 ms
                return self.status()
            if time.monotonic() > deadline:
                raise AssertionError(f"sink counted {status['recipients']} of {recipients} recipients")
            time.sleep(0.02)

    def recorded(self) -> list[str]:
        """Every recipient the sink accepted, in order, without angle brackets."""
        if not self.record_path.exists():
            return []
        return [line.strip().strip("<>") for line in self.record_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)


@pytest.fixture
def start_sink(tmp_path):
    sinks: list[Sink] = []

    def start(**options) -> Sink:
        sinks.append(Sink(tmp_path, **options))
        return sinks[-1]

    yield start
    for sink in sinks:
        sink.stop()


@pytest.fixture
def sink(start_sink, settings) -> Sink:
    """A plain sink that accepts everything, set as the site's SMTP server."""
    server = start_sink()
    use_smtp_server(settings, server.port)
    return server


@dataclass
class Arrived:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class RecordingHandler:
    """Keeps what arrived; `script[address]` lists replies for that address's
    next RCPTs (then 250)."""

    def __init__(self):
        self.arrived: list[Arrived] = []
        self.script: dict[str, list[str]] = {}
        self.transactions = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.script.get(address)
        if replies:
            reply = replies.pop(0)
            if not reply.startswith("250"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.transactions += 1
        self.arrived.append(Arrived(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def received_by(self, email: str) -> list[Arrived]:
        return [a for a in self.arrived if email in a.rcpt_tos]


@pytest.fixture
def smtpd(settings):
    """An aiosmtpd server set as the site's SMTP server; yields its handler."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_smtp_server(settings, controller.port)
    yield handler
    controller.stop()


def child_env(**variables: str) -> dict[str, str]:
    """The environment for a project process started by a test."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SETTINGS_MODULE="mailman_site.settings", PYTHONPATH=str(BASE_DIR), LOG_LEVEL="WARNING")
    env.update(variables)
    return env


# Project processes against a database of their own.
#
# In-memory SQLite test databases cannot be shared with child processes, so
# the tests that run workers, sweepers and kills use a database made for
# them: a temporary SQLite file, or a fresh PostgreSQL database on the server
# of DATABASE_URL. The children set it up (`migrate`, then the commands at
# the end of this module) and the tests read results from them as JSON.


@dataclass
class ProjectDatabase:
    url: str
    workdir: Path

    def env(self, **variables: str) -> dict[str, str]:
        return child_env(DATABASE_URL=self.url, VAR_DIR=str(self.workdir), SECRET_KEY="delivery-tests", **variables)

    def run(self, *argv: str, **variables: str) -> str:
        """Run `python -m tests.delivery_support ARGV` (or manage.py when argv[0] is "manage"); its stdout."""
        command = ["manage.py", *argv[1:]] if argv[0] == "manage" else ["-m", "tests.delivery_support", *argv]
        done = subprocess.run(
            [sys.executable, *command],
            cwd=BASE_DIR,
            env=self.env(**variables),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise AssertionError(f"{argv} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def json(self, *argv: str, **variables: str) -> dict:
        return json.loads(self.run(*argv, **variables).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def project_database(tmp_path_factory):
    """A migrated database that child processes share, of the same kind as the tests'."""
    from django.conf import settings

    workdir = tmp_path_factory.mktemp("project")
    config = settings.DATABASES["default"]
    if config["ENGINE"] == "django.db.backends.postgresql":
        import uuid

        import psycopg
        from psycopg import sql

        server = {"host": config["HOST"] or "127.0.0.1", "port": config["PORT"] or 5432, "user": config["USER"]}
        if config["PASSWORD"]:
            server["password"] = config["PASSWORD"]
        name = f"test_delivery_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        auth = f"{server['user']}:{config['PASSWORD']}" if config["PASSWORD"] else server["user"]
        database = ProjectDatabase(f"postgres://{auth}@{server['host']}:{server['port']}/{name}", workdir)
    else:
        database = ProjectDatabase(f"sqlite:///{workdir / 'project.sqlite3'}", workdir)
        name = None
    database.run("manage", "migrate", "-v0")
    yield database
    if name:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


TEST_BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


def flush_broker(url: str) -> None:
    """Empty the project's queues on the broker at `url`; fails the test if it is unreachable."""
    from mailman_site.broker import make_broker

    broker = make_broker(url)
    try:
        for queue in ("delivery", "inbound", "archive"):
            broker.declare_queue(queue)
        broker.flush_all()
    except Exception as exc:
        pytest.fail(f"the test broker at {url} is unreachable: {exc!r} (set TEST_BROKER_URL)")
    finally:
        broker.close()


@pytest.fixture
def test_broker() -> str:
    """The URL of a real broker (TEST_BROKER_URL), its queues emptied.

    The queue names are the actors', so tests that share a broker take turns:
    a lock file serialises them across pytest-xdist workers and concurrent runs.
    """
    with open(Path(tempfile.gettempdir()) / "mailman-delivery-broker-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        flush_broker(TEST_BROKER_URL)
        yield TEST_BROKER_URL
        flush_broker(TEST_BROKER_URL)


class Workers:
    """`dramatiq mailman_site.workers` as a process group (master and workers)."""

    def __init__(self, database: ProjectDatabase, threads: int = 1, **variables: str):
        self.process = subprocess.Popen(
            [
                *[sys.executable, "-m", "dramatiq", "mailman_site.workers", "--processes", "1"],
                *["--threads", str(threads), "--queues", "delivery"],
            ],
            cwd=BASE_DIR,
            env=database.env(**variables),
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL every process of the group: no clean-up, no acks."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


# Child-process commands: python -m tests.delivery_support COMMAND ...


def member_lines(count: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:05d}@host{i % 7}.example.org" for i in range(count)]


def child_setup(list_name: str, members: int, personalize: str) -> dict:
    """Create a list with `members` members and post to it; prints the post's id."""
    from django.db import transaction

    from lists.models import Domain
    from lists.services import create_domain, create_list
    from members.services import bulk_subscribe
    from messages.delivery import enqueue_post
    from messages.models import Post

    if not Domain.objects.filter(mail_host="example.com").exists():
        create_domain("example.com")
    mlist = create_list(f"{list_name}@example.com")
    mlist.personalize = personalize
    mlist.save(update_fields=["personalize"])
    bulk_subscribe(mlist, member_lines(members, list_name))
    with transaction.atomic():
        post = Post.objects.create(mailing_list=mlist, sequence=1, raw=corpus_message("msg_01.txt"))
        count = enqueue_post(post)
    return {"post": post.pk, "recipients": count, "batches": post.batches.count()}


def child_report(post_id: int) -> dict:
    from messages.delivery import progress
    from messages.models import Post

    post = Post.objects.get(pk=post_id)
    return {
        **progress(post).as_dict(),
        "statuses": sorted(set(post.batches.values_list("status", flat=True))),
        "attempts": max(post.batches.values_list("attempts", flat=True)),
    }


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, *args = argv
    if command == "setup":
        result = child_setup(args[0], int(args[1]), args[2])
    elif command == "report":
        result = child_report(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
