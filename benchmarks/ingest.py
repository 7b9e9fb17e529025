"""Benchmark: posts/s accepted over LMTP with 1 and 4 connections, and
posts/s end to end (LMTP to the last RCPT at the sink), to a 10-member list.

    .venv/bin/python benchmarks/ingest.py [--posts 2000] [--connections 1,4]
        [--setups postgres,embedded] [--repeat 3] [--processes 2] [--threads 4]
        [--warm-up 8] [--wait-quiet 120] [--broker-url redis://127.0.0.1:6379/14]

The setups are fanout.py's (see harness.py): `postgres` is `manage.py
runlmtp` plus `manage.py runworkers` on a fresh PostgreSQL database (durable
commits when the server has fsync and synchronous_commit on) and
Redis; `embedded` is `manage.py runall` on a fresh SQLite file (WAL,
synchronous=NORMAL: not durable at every commit). Each run reports
`durable_commits`.

One run, with a fresh sink and freshly started site processes: warm-up posts
(as in fanout.py), then `--posts` posts of 2 to 5 KB with distinct
Message-IDs, from a member of a 10-member list whose member posts are
accepted, sent with smtplib.LMTP over N connections at once (each opened
before the clock starts, as an MTA keeps its connections), the posts split
between them. The workers process and deliver while the posts come in, as
they would on a live site.

  accepted_posts_per_s    posts / (last 250 - first MAIL FROM): each 250
                          comes after the receiver's commit;
  end_to_end_posts_per_s  posts / (sink's last RCPT - first MAIL FROM), once
                          the sink has every post x 10 recipients.

Then checked: every post stored once and accepted (none held, parked or
duplicate) and every member got `--posts` copies. Peak RSS and CPU are
counted as in fanout.py. One JSON line per run, one per group with the
medians, then a short summary with Mailman 3.3.10's figures on this machine.
"""

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import harness

LIST = f"ingest@{harness.DOMAIN}"
MEMBERS = 10
TARGET_ACCEPTED_PER_S = 300  # on one connection, PostgreSQL + Redis
TARGET_END_TO_END_PER_S = 270
# Mailman 3.3.10 on this machine: 98-111 posts/s accepted over LMTP, 27 end to end.
MAILMAN_ACCEPTED_PER_S = (98, 111)
MAILMAN_END_TO_END_PER_S = 27
# Reported as the median of a group's runs.
MEDIANS = (
    "accepted_posts_per_s",
    "end_to_end_posts_per_s",
    "lmtp_ms_p50",
    "peak_rss_mb",
    "cpu_ms_per_post",
    "machine_cpu_ms_per_post",
)


def members() -> list[str]:
    return harness.member_lines("i", MEMBERS)


def posts(count: int) -> list[bytes]:
    """`count` posts of 2 to 5 KB, each with its own Message-ID."""
    sender = members()[0]
    run = os.urandom(4).hex()
    return [
        harness.post_bytes(LIST, sender, 2048 + (i * 389) % 3072, f"<ingest-{run}-{i}@bench.example.org>")
        for i in range(count)
    ]


# Child processes


def child_lists() -> dict:
    harness.create_warm_up_list()
    return harness.create_list(LIST, members())


def child_outcome() -> dict:
    """How the posts to the list ended, by inbound status."""
    from django.db.models import Count

    from messages.models import InboundMessage, Post

    statuses = InboundMessage.objects.filter(rcpt_to=LIST).values_list("status").annotate(n=Count("pk"))
    return {"inbound": dict(statuses), "posts": Post.objects.filter(mailing_list__list_name="ingest").count()}


# The parent


class Sender(threading.Thread):
    """One LMTP connection sending its share of the posts."""

    def __init__(self, site: harness.Site, messages: list[bytes], start: threading.Barrier):
        super().__init__(daemon=True)
        self.client = site.connect()
        self.messages = messages
        self.start_line = start
        self.latencies: list[float] = []
        self.finished = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        sender = members()[0]
        try:
            self.start_line.wait()
            for message in self.messages:
                began = time.perf_counter()
                self.client.sendmail(sender, [LIST], message)
                self.latencies.append(time.perf_counter() - began)
            self.finished = time.time()
            self.client.quit()
        except BaseException as exc:
            self.error = exc


def one_run(setup: str, env: dict, args, connections: int, workdir: Path, outcome_before: dict) -> dict:
    messages = posts(args.posts)
    sink = harness.Sink(workdir)
    sink.start()
    env = {**env, "SMTP_URL": sink.url}
    result = {"setup": setup, "connections": connections, "posts": args.posts, "members": MEMBERS}
    try:
        with harness.running_site(setup, env, workdir, processes=args.processes, threads=args.threads) as site:
            result["site"] = site.description
            if args.warm_up:
                site.warm_up(sink, args.warm_up, args.timeout)
                sink.restart()
            # Other work on the machine skews the figures: waited for, and shown.
            result["cpu_busy_before"] = harness.wait_until_quiet(args.wait_quiet)
            result["load_average"] = [round(x, 2) for x in os.getloadavg()]
            start = threading.Barrier(connections + 1)
            senders = [Sender(site, messages[n::connections], start) for n in range(connections)]
            for sender in senders:
                sender.start()
            before, machine_before = site.usage(), harness.machine_cpu()[0]
            started = time.time()
            start.wait()
            for sender in senders:
                sender.join()
            failed = [s.error for s in senders if s.error]
            if failed:
                raise SystemExit(f"sending failed: {failed[0]!r}")
            status = sink.wait_for(args.posts * MEMBERS, args.timeout)
            after, machine_after = site.usage(), harness.machine_cpu()[0]
        copies = sink.recorded()
    finally:
        sink.stop()
    outcome = harness.run_child(__file__, env, "outcome")
    accepted_seconds = max(s.finished for s in senders) - started
    end_to_end_seconds = status.last - started
    latencies = sorted(latency for s in senders for latency in s.latencies)
    new = {k: v - outcome_before["inbound"].get(k, 0) for k, v in outcome["inbound"].items()}
    result.update(
        accepted_seconds=round(accepted_seconds, 3),
        accepted_posts_per_s=round(args.posts / accepted_seconds),
        end_to_end_seconds=round(end_to_end_seconds, 3),
        end_to_end_posts_per_s=round(args.posts / end_to_end_seconds),
        lmtp_ms_p50=round(1000 * statistics.median(latencies), 2),
        lmtp_ms_p99=round(1000 * latencies[int(len(latencies) * 0.99)], 2),
        peak_rss_mb=round(after.peak_rss_mb, 1),
        cpu_seconds=round(after.cpu_seconds - before.cpu_seconds, 2),
        cpu_ms_per_post=round(1000 * (after.cpu_seconds - before.cpu_seconds) / args.posts, 2),
        # Everything the machine did meanwhile: the site, the sink, PostgreSQL,
        # Redis, this script and whatever else ran.
        machine_cpu_ms_per_post=round(1000 * (machine_after - machine_before) / args.posts, 2),
        processes=after.processes,
        inbound_statuses={k: v for k, v in new.items() if v},
        all_accepted_once=new.get("accepted", 0) == args.posts and sum(new.values()) == args.posts,
        every_member_every_post=dict(copies) == dict.fromkeys(members(), args.posts),
        broker=env["BROKER_URL"].split(":", 1)[0] if env["BROKER_URL"] else "in-process",
    )
    return result


def run_setup(setup: str, args) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        with harness.prepared_setup(setup, workdir, args.broker_url) as env:
            harness.run_child(__file__, env, "lists")
            durable = harness.durable_commits(env["DATABASE_URL"])
            for connections in args.connections:
                for number in range(1, args.repeat + 1):
                    before = harness.run_child(__file__, env, "outcome")
                    result = {"run": number, **one_run(setup, env, args, connections, workdir, before)}
                    result["durable_commits"] = durable
                    print(json.dumps(result), flush=True)
                    results.append(result)
    return results


def medians(results: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for result in results:
        groups[(result["setup"], result["connections"])].append(result)
    lines = []
    for (setup, connections), runs in groups.items():
        line = {"median_of": len(runs), "setup": setup, "connections": connections, "posts": runs[0]["posts"]}
        for key in MEDIANS:
            line[key] = round(harness.median([run[key] for run in runs]), 2)
        line["durable_commits"] = all(run["durable_commits"] for run in runs)
        line["all_accepted_once"] = all(run["all_accepted_once"] for run in runs)
        line["every_member_every_post"] = all(run["every_member_every_post"] for run in runs)
        line["load_average_1min"] = round(harness.median([run["load_average"][0] for run in runs]), 2)
        line["cpu_busy_before"] = round(harness.median([run["cpu_busy_before"] for run in runs]), 2)
        if setup == "postgres" and connections == 1:
            line["meets_target"] = (
                line["durable_commits"]
                and line["accepted_posts_per_s"] >= TARGET_ACCEPTED_PER_S
                and line["end_to_end_posts_per_s"] >= TARGET_END_TO_END_PER_S
            )
        lines.append(line)
    return lines


def summary(lines: list[dict]) -> str:
    rows = []
    for m in lines:
        target = ""
        if "meets_target" in m:
            verdict = "meets" if m["meets_target"] else "MISSES"
            target = f"  {verdict} target {TARGET_ACCEPTED_PER_S} accepted, {TARGET_END_TO_END_PER_S} end to end"
        rows.append(
            f"{m['setup']:>9}, {m['connections']} connection(s): {m['accepted_posts_per_s']:>5.0f} posts/s accepted"
            f" (p50 {m['lmtp_ms_p50']:.1f} ms), {m['end_to_end_posts_per_s']:>5.0f} posts/s end to end,"
            f" peak RSS {m['peak_rss_mb']:.0f} MB, load {m['load_average_1min']:.1f}{target}"
        )
    low, high = MAILMAN_ACCEPTED_PER_S
    rows.append(
        f"Mailman 3.3.10 on this machine: {low}-{high} posts/s accepted, {MAILMAN_END_TO_END_PER_S} end to end."
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000, help="posts per run")
    parser.add_argument("--connections", default="1,4", help="concurrent LMTP connections, one run set each")
    parser.add_argument("--setups", default="postgres,embedded")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians are reported")
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes (postgres)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads per process")
    parser.add_argument("--warm-up", type=int, default=8, help="warm-up posts before each timed run (0: none)")
    parser.add_argument(
        "--wait-quiet", type=float, default=120, help="seconds to wait for the machine to be idle before a run"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for a run's last recipient")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        harness.child_setup()
        print(json.dumps(child_lists() if args.child[0] == "lists" else child_outcome()))
        return
    args.connections = [int(n) for n in args.connections.split(",")]
    unknown = set(args.setups.split(",")) - set(harness.SETUPS)
    if unknown:
        parser.error(f"unknown setup: {', '.join(sorted(unknown))}")
    results = []
    for setup in args.setups.split(","):
        results += run_setup(setup, args)
    lines = medians(results)
    for line in lines:
        print(json.dumps(line))
    print(summary(lines), flush=True)


if __name__ == "__main__":
    main()
