"""Benchmark: one post fanned out to 1,000, 10,000 and 100,000 members, bulk
and personalized, into /work/shared/bench/sink.py on loopback.

    .venv/bin/python benchmarks/fanout.py [--sizes 1000,10000,100000]
        [--modes bulk,personalized] [--setups postgres,embedded]
        [--processes 2] [--threads 4] [--batch-size 1000]
        [--broker-url redis://127.0.0.1:6379/14]

Setups:
  postgres        a fresh PostgreSQL database on 127.0.0.1:5432, the broker
                  at --broker-url (Redis by default, or amqp://...; flushed
                  before each run) and worker processes started as `python -m
                  dramatiq mailman_site.workers --processes N --threads M`
                  (what `manage.py runworkers` runs);
  embedded        a fresh SQLite file and the in-process StubBroker, with M
                  dramatiq worker threads inside the posting process.

Phases of one run, each in its own process so the figures are the run's own:
  1. roster:   one list per size, members added with bulk_subscribe (once per
               setup, not timed);
  2. workers:  started afresh for each run and waited for ("ready for
               action"), not timed;
  3. post:     a Post row is created directly and enqueue_post() is called in
               its transaction. This is the phase to switch to a real LMTP
               post once the receiver and the pipeline have landed;
  4. delivery: timed from the post's commit to the last RCPT the sink accepted
               (the sink's status `last`), checked against its record: every
               member exactly once.

Peak RSS is the sum, over the project's processes (posting process, dramatiq
master and workers), of each one's peak (VmHWM), so it is an upper bound of
their peak together. CPU seconds are those processes' user + system time.
The sink, PostgreSQL and Redis are not counted. One JSON line per run.
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SINK = BASE_DIR.parent / "shared" / "bench" / "sink.py"
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
TARGETS = {("bulk", 10_000): 15_000, ("bulk", 100_000): 50_000, ("personalized", 10_000): 3_000}
MEMORY_TARGET_MB = 400
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# A plain-text post of about 3 KB, as lists usually carry.
POST = (
    "From: Alice Example <alice@example.org>\r\n"
    "To: bench@bench.example.org\r\n"
    "Subject: [bench] A post of ordinary size\r\n"
    "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <fanout-bench@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "List-Id: <bench.bench.example.org>\r\n"
    "\r\n" + "A line of an ordinary post, long enough to look like prose, ending here.\r\n" * 40
).encode()


def member_lines(size: int) -> list[str]:
    return [f"m{size}-{i:06d}@host{i % 97}.example.org" for i in range(size)]


def list_address(size: int) -> str:
    return f"fanout{size}@bench.example.org"


# Child processes


def child_setup() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailman_site.settings")
    import django

    django.setup()


def child_roster(size: int) -> dict:
    child_setup()
    from lists.models import Domain
    from lists.services import create_domain, create_list
    from members.services import bulk_subscribe

    if not Domain.objects.filter(mail_host="bench.example.org").exists():
        create_domain("bench.example.org")
    mlist = create_list(list_address(size))
    started = time.perf_counter()
    bulk_subscribe(mlist, member_lines(size))
    return {"members": size, "roster_seconds": round(time.perf_counter() - started, 2)}


def child_post(size: int, mode: str, embedded_threads: int, sink_status: str) -> dict:
    """Phase 3 (and, embedded, the workers too): post and enqueue; report the commit time."""
    child_setup()
    from django.db import transaction
    from django.db.models import Max

    from lists.services import get_list
    from messages.delivery import enqueue_post
    from messages.models import Post

    worker = None
    if embedded_threads:
        import dramatiq

        from mailman_site.broker import broker, load_actors

        load_actors()
        worker = dramatiq.Worker(broker, worker_threads=embedded_threads, queues={"delivery"})
        worker.start()
    mlist = get_list(list_address(size))
    mlist.personalize = "full" if mode == "personalized" else "none"
    mlist.save(update_fields=["personalize"])
    committed = {}
    started = time.time()
    with transaction.atomic():
        sequence = (mlist.posts.aggregate(n=Max("sequence"))["n"] or 0) + 1
        post = Post.objects.create(mailing_list=mlist, sequence=sequence, raw=POST, subject="bench")
        # Registered first, so it runs at the commit, before the broker messages go out.
        transaction.on_commit(lambda: committed.setdefault("at", time.time()))
        recipients = enqueue_post(post)
    result = {
        "recipients": recipients,
        "committed_at": committed["at"],
        "snapshot_seconds": round(committed["at"] - started, 3),
        "nudge_seconds": round(time.time() - committed["at"], 3),
    }
    if worker is not None:
        wait_for_sink(Path(sink_status), size, timeout=600)
        worker.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


# The parent


def wait_for_sink(status_path: Path, recipients: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = json.loads(status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            status = {"recipients": 0}
        if status["recipients"] >= recipients:
            return status
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: the sink counted {status['recipients']} of {recipients}")
        time.sleep(0.005)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sink_process(workdir: Path) -> Iterator[tuple[str, Path, Path]]:
    port = free_port()
    status, record = workdir / f"sink-{port}.json", workdir / f"sink-{port}.rcpts"
    process = subprocess.Popen(
        [sys.executable, str(SINK), "--port", str(port), "--status", str(status), "--record", str(record)]
    )
    while not status.exists():
        time.sleep(0.02)
    try:
        yield f"smtp://127.0.0.1:{port}", status, record
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


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
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Workers:
    """The dramatiq CLI on mailman_site.workers, as a process group."""

    def __init__(self, env: dict, processes: int, threads: int):
        self.process = subprocess.Popen(
            [
                *[sys.executable, "-m", "dramatiq", "mailman_site.workers", "--processes", str(processes)],
                *["--threads", str(threads), "--queues", "delivery"],
            ],
            cwd=BASE_DIR,
            # INFO: the workers' "ready for action" lines tell when to start.
            env={**env, "LOG_LEVEL": "INFO"},
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.ready = threading.Semaphore(0)
        threading.Thread(target=self._read_log, daemon=True).start()
        for _ in range(processes):
            if not self.ready.acquire(timeout=60):
                self.stop()
                raise SystemExit("dramatiq workers did not start")

    def _read_log(self) -> None:
        for line in self.process.stderr:
            if "ready for action" in line:
                self.ready.release()
            elif "ERROR" in line or "Traceback" in line or "messages." in line:
                sys.stderr.write(line)

    def usage(self) -> tuple[float, float]:
        peaks, cpu = 0.0, 0.0
        for pid in process_group(self.process.pid):
            try:
                peak, seconds = process_usage(pid)
            except (OSError, StopIteration):
                continue
            peaks += peak
            cpu += seconds
        return peaks, cpu

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(60)


def flush_broker(url: str) -> None:
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
        return
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=url)
    broker.declare_queue("delivery")
    broker.flush_all()
    broker.close()


def run_child(env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_record(record: Path, size: int) -> bool:
    copies = Counter(line.strip().strip("<>") for line in record.read_text().splitlines() if line.strip())
    return len(copies) == size and set(copies.values()) == {1}


def one_run(setup: str, env: dict, args, size: int, mode: str, workdir: Path) -> dict:
    load_before = os.getloadavg()[0]
    with sink_process(workdir) as (smtp_url, status_path, record):
        env = {**env, "SMTP_URL": smtp_url}
        workers = None
        if setup == "postgres":
            flush_broker(env["BROKER_URL"])
            workers = Workers(env, args.processes, args.threads)
        try:
            embedded_threads = str(args.threads if setup == "embedded" else 0)
            posted = run_child(env, "post", str(size), mode, embedded_threads, str(status_path))
            status = wait_for_sink(status_path, size, timeout=args.timeout)
            if workers is not None:
                peak, cpu = workers.usage()
                posted["peak_rss_mb"] = round(posted["peak_rss_mb"] + peak, 1)
                posted["cpu_seconds"] = round(posted["cpu_seconds"] + cpu, 2)
        finally:
            if workers is not None:
                workers.stop()
        time.sleep(0.3)  # the sink flushes its record every 100 ms
        seconds = status["last"] - posted["committed_at"]
    result = {
        "setup": setup,
        "mode": mode,
        "members": size,
        "seconds": round(seconds, 3),
        "recipients_per_s": round(size / seconds),
        # From the commit to the first RCPT: the broker's pick-up latency (an
        # idle dramatiq Redis consumer polls with a backoff of up to 1 s).
        "first_rcpt_seconds": round(status["first"] - posted["committed_at"], 3),
        "snapshot_seconds": posted["snapshot_seconds"],
        "nudge_seconds": posted["nudge_seconds"],
        "peak_rss_mb": posted["peak_rss_mb"],
        "cpu_seconds": posted["cpu_seconds"],
        "smtp_transactions": status["messages"],
        "exactly_once": check_record(record, size),
        "broker": env["BROKER_URL"].split(":", 1)[0] if env["BROKER_URL"] else "in-process",
        "workers": f"{args.processes}x{args.threads}" if setup == "postgres" else f"1x{args.threads} in-process",
        "batch_size": args.batch_size,
        # Other work on the machine skews the figures: shown, not hidden.
        "load_average_1min": round(load_before, 2),
    }
    target = TARGETS.get((mode, size))
    if setup == "postgres" and target:
        result["target_recipients_per_s"] = target
        result["meets_target"] = result["recipients_per_s"] >= target and result["peak_rss_mb"] < MEMORY_TARGET_MB
    return result


@contextmanager
def database(setup: str, workdir: Path) -> Iterator[str]:
    if setup == "embedded":
        yield f"sqlite:///{workdir / 'fanout.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    name = f"bench_fanout_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_setup(setup: str, args) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp, database(setup, Path(tmp)) as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "VAR_DIR": tmp,
            "LOG_LEVEL": "WARNING",
            "BROKER_URL": args.broker_url if setup == "postgres" else "",
            "DELIVERY_BATCH_SIZE": str(args.batch_size),
            "PYTHONPATH": str(BASE_DIR),
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
        for size in args.sizes:
            run_child(env, "roster", str(size))
            for mode in args.modes:
                result = one_run(setup, env, args, size, mode, Path(tmp))
                print(json.dumps(result), flush=True)
                results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--modes", default="bulk,personalized")
    parser.add_argument("--setups", default="postgres,embedded")
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes (postgres)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads per process")
    parser.add_argument("--batch-size", type=int, default=1000, help="DELIVERY_BATCH_SIZE")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for one run's last recipient")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        command, *rest = args.child
        if command == "roster":
            print(json.dumps(child_roster(int(rest[0]))))
        else:
            print(json.dumps(child_post(int(rest[0]), rest[1], int(rest[2]), rest[3])))
        return
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.modes = args.modes.split(",")
    for setup in args.setups.split(","):
        run_setup(setup, args)


if __name__ == "__main__":
    main()
