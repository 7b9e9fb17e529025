"""The list server as the mail-path benchmarks run it (fanout.py, ingest.py).

A setup is a throwaway database plus the site's own commands, started as an
operator would start them, each in a process group of its own:

  postgres   a new PostgreSQL database on 127.0.0.1:5432, the broker at
             BROKER_URL (Redis by default; flushed before each run),
             `manage.py runlmtp` and `manage.py runworkers` (dramatiq worker
             processes on every queue: inbound and delivery);
  embedded   a new SQLite file and `manage.py runall` (LMTP receiver,
             in-process broker and worker threads, web server and sweeper in
             one process): the embedded default.

Outgoing mail goes to ../shared/bench/sink.py on loopback. Mail comes in over
LMTP with smtplib, as an MTA hands it over.
"""

import json
import os
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SINK = BASE_DIR.parent / "shared" / "bench" / "sink.py"
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
SETUPS = ("postgres", "embedded")
DOMAIN = "bench.example.org"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A list the warm-up posts go to before a timed run.
WARM_UP_LIST = f"warmup@{DOMAIN}"
WARM_UP_MEMBERS = 3
LINE = "A line of an ordinary post, long enough to look like prose, ending here.\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def member_lines(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:06d}@host{i % 97}.example.org" for i in range(count)]


def post_bytes(list_address: str, sender: str, size: int, message_id: str | None = None) -> bytes:
    """A plain-text post of about `size` bytes from `sender` to the list."""
    message_id = message_id or f"<{uuid.uuid4().hex}@bench.example.org>"
    head = (
        f"From: Bench Sender <{sender}>\r\n"
        f"To: {list_address}\r\n"
        "Subject: A post of ordinary size\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    )
    lines = max(1, (size - len(head)) // len(LINE))
    return (head + LINE * lines).encode()


# Child processes: Django set up with the run's environment.


def child_setup() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailman_site.settings")
    import django

    django.setup()


def create_list(list_address: str, members: list[str]) -> dict:
    """In a child: a list whose members' posts are accepted (the list's
    default member action), with `members` subscribed. Returns the time taken."""
    from lists.models import Domain
    from lists.services import configure_list, create_domain, create_list
    from members.services import bulk_subscribe

    if not Domain.objects.filter(mail_host=DOMAIN).exists():
        create_domain(DOMAIN)
    started = time.perf_counter()
    mlist = create_list(list_address)
    configure_list(mlist, default_member_action="accept")
    result = bulk_subscribe(mlist, members)
    if len(result.added) != len(members):
        raise SystemExit(f"{list_address}: {len(result.added)} of {len(members)} members added")
    return {"list": list_address, "members": len(members), "roster_seconds": round(time.perf_counter() - started, 2)}


def create_warm_up_list() -> dict:
    return create_list(WARM_UP_LIST, member_lines("warm", WARM_UP_MEMBERS))


def run_child(script: str, env: dict, *args: str) -> dict:
    """Run `script --child args...` and return the JSON of its last line."""
    done = subprocess.run(
        [sys.executable, script, "--child", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# The database and the environment


@contextmanager
def fresh_database(setup: str, workdir: Path) -> Iterator[str]:
    if setup == "embedded":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def durable_commits(database_url: str) -> bool:
    """Whether a commit on this database waits for its data to be on disk:
    PostgreSQL's fsync and synchronous_commit on; SQLite's WAL with
    synchronous=NORMAL (the site's setting) syncs at checkpoints, not at
    every commit, so False."""
    if not database_url.startswith("postgres"):
        return False
    import psycopg

    with psycopg.connect(database_url) as conn:
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        synchronous = conn.execute("SHOW synchronous_commit").fetchone()[0]
    return fsync == "on" and synchronous in ("on", "remote_write", "remote_apply")


@contextmanager
def prepared_setup(setup: str, workdir: Path, broker_url: str, **extra_env: str) -> Iterator[dict]:
    """A fresh, migrated database for `setup`; yields the site's environment."""
    with fresh_database(setup, workdir) as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BROKER_URL": broker_url if setup == "postgres" else "",
            "VAR_DIR": str(workdir),
            # The site's default engine (SQLite FTS5), its index in the run's directory.
            "SEARCH_URL": f"sqlite://{workdir / 'search.sqlite3'}",
            # The site's default level: the processes log as they would in production.
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
        yield env


def flush_broker(url: str) -> None:
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
        return
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=url)
    for queue in ("inbound", "delivery", "archive"):
        broker.declare_queue(queue)
    broker.flush_all()
    broker.close()


# The sink


@dataclass
class SinkStatus:
    recipients: int
    messages: int
    first: float | None
    last: float | None


class Sink:
    """../shared/bench/sink.py on a loopback port, recording every recipient."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.generation = 0

    def start(self) -> None:
        self.generation += 1
        self.status_path = self.workdir / f"sink-{self.port}-{self.generation}.json"
        self.record_path = self.workdir / f"sink-{self.port}-{self.generation}.rcpts"
        files = ["--status", str(self.status_path), "--record", str(self.record_path)]
        self.process = subprocess.Popen([sys.executable, str(SINK), "--port", str(self.port), *files])
        deadline = time.monotonic() + 30
        while not self.status_path.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the SMTP sink did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
            self.process = None

    def restart(self) -> None:
        """A fresh sink (counters, record) on the same port. The site's kept
        SMTP connections break and are opened again on their next use."""
        self.stop()
        self.start()

    def status(self) -> SinkStatus:
        try:
            data = json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return SinkStatus(0, 0, None, None)
        return SinkStatus(data["recipients"], data["messages"], data["first"], data["last"])

    def wait_for(self, recipients: int, timeout: float) -> SinkStatus:
        """Poll until the sink counted `recipients`; SystemExit after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.recipients >= recipients:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sink counted {status.recipients} of {recipients} recipients")
            time.sleep(0.005)

    def recorded(self) -> Counter:
        """Copies received per recipient address (the record is flushed every 100 ms)."""
        time.sleep(0.3)
        lines = self.record_path.read_text().splitlines()
        return Counter(line.strip().strip("<>") for line in lines if line.strip())


# The site's processes


def process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def process_usage(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a live process."""
    status = (Path("/proc") / str(pid) / "status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return hwm / 1024, process_cpu_seconds(pid)


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a live process."""
    # utime and stime, after the command name (which may hold spaces).
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Usage:
    peak_rss_mb: float
    cpu_seconds: float
    processes: int


class Command:
    """One `manage.py` command in a process group of its own, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, workdir: Path):
        self.name = name
        self.log_path = workdir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", *argv],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start ({text!r} not seen):\n{log[-3000:]}")
            time.sleep(0.05)

    def usage(self) -> Usage:
        peaks, cpu, count = 0.0, 0.0, 0
        for pid in process_group(self.process.pid):
            try:
                peak, seconds = process_usage(pid)
            except (OSError, StopIteration):
                continue
            peaks, cpu, count = peaks + peak, cpu + seconds, count + 1
        return Usage(peaks, cpu, count)

    def errors(self) -> list[str]:
        return [line for line in self.log().splitlines() if " ERROR " in line or "Traceback" in line]

    def stop(self) -> None:
        """SIGTERM to the command (it stops its own children), then SIGKILL to what is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


class Site:
    """The running site of one setup: its commands and its LMTP port."""

    def __init__(self, setup: str, env: dict, workdir: Path, *, processes: int, threads: int):
        self.setup = setup
        self.lmtp_port = free_port()
        if setup == "postgres":
            flush_broker(env["BROKER_URL"])
            self.workers = Command(
                "runworkers",
                ["runworkers", "--processes", str(processes), "--threads", str(threads)],
                env,
                workdir,
            )
            self.lmtp = Command("runlmtp", ["runlmtp", "--port", str(self.lmtp_port)], env, workdir)
            self.commands = [self.lmtp, self.workers]
            ready = [(self.lmtp, "LMTP receiver listening", 1), (self.workers, "ready for action", processes)]
            self.description = f"runlmtp + runworkers {processes}x{threads}"
        else:
            argv = ["runall", "--no-migrate", "--port", str(free_port()), "--lmtp-port", str(self.lmtp_port)]
            self.lmtp = Command("runall", [*argv, "--worker-threads", str(threads)], env, workdir)
            self.commands = [self.lmtp]
            ready = [(self.lmtp, "Serving on", 1)]
            self.description = f"runall, {threads} worker threads"
        try:
            for command, text, count in ready:
                command.wait_for_log(text, count)
        except BaseException:
            self.stop()
            raise

    def usage(self) -> Usage:
        parts = [command.usage() for command in self.commands]
        return Usage(
            sum(p.peak_rss_mb for p in parts), sum(p.cpu_seconds for p in parts), sum(p.processes for p in parts)
        )

    def errors(self) -> list[str]:
        return [f"{command.name}: {line}" for command in self.commands for line in command.errors()]

    def stop(self) -> None:
        for command in self.commands:
            command.stop()

    def connect(self) -> smtplib.LMTP:
        client = smtplib.LMTP("127.0.0.1", self.lmtp_port)
        client.ehlo_or_helo_if_needed()
        return client

    def warm_up(self, sink: Sink, posts: int, timeout: float) -> None:
        """Post `posts` messages to the warm-up list and wait for their delivery,
        so the timed run meets a site that has handled mail before: modules
        imported, database and SMTP connections open in the workers."""
        sender = member_lines("warm", 1)[0]
        client = self.connect()
        for _ in range(posts):
            client.sendmail(sender, [WARM_UP_LIST], post_bytes(WARM_UP_LIST, sender, 2000))
            time.sleep(0.01)
        client.quit()
        sink.wait_for(posts * WARM_UP_MEMBERS, timeout)


@contextmanager
def running_site(setup: str, env: dict, workdir: Path, *, processes: int, threads: int) -> Iterator[Site]:
    site = Site(setup, env, workdir, processes=processes, threads=threads)
    try:
        yield site
    finally:
        site.stop()
        for line in site.errors():
            sys.stderr.write(line + "\n")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS


def cpu_busy(seconds: float = 1.0) -> float:
    """The fraction of the machine's CPU time spent busy over `seconds`."""
    busy, total = machine_cpu()
    time.sleep(seconds)
    busy2, total2 = machine_cpu()
    return (busy2 - busy) / max(total2 - total, 1e-9)


def wait_until_quiet(limit: float, busy: float = 0.15) -> float:
    """Wait up to `limit` seconds for the machine to be quiet (other work, such
    as another developer's test run, to finish); returns the busy fraction
    seen last, which a run reports."""
    deadline = time.monotonic() + limit
    while True:
        seen = cpu_busy()
        if seen <= busy or time.monotonic() >= deadline:
            return round(seen, 2)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
