"""Benchmark: one 5 KB post, received over LMTP, fanned out to lists of 1,000,
10,000 and 100,000 members, bulk and personalized, into the counting SMTP
sink (../shared/bench/sink.py) on loopback.

    .venv/bin/python benchmarks/fanout.py [--sizes 1000,10000,100000]
        [--modes bulk,personalized] [--setups postgres,embedded] [--repeat 3]
        [--processes 2] [--threads 4] [--batch-size 1000] [--warm-up 8]
        [--wait-quiet 120] [--broker-url redis://127.0.0.1:6379/14]

The setups (see harness.py): `postgres` runs `manage.py runlmtp` and
`manage.py runworkers` (worker processes on the inbound and delivery queues)
on a fresh PostgreSQL database and Redis; `embedded` runs `manage.py runall`
(LMTP receiver and in-process worker threads in one process) on a fresh
SQLite file.

One run, each with a fresh sink and freshly started site processes:
  1. warm-up:  a few posts to a 3-member list, delivered and waited for, so
               the timed post meets a site that has handled mail before; then
               the sink is replaced by a fresh one on the same port;
  2. post:     the 5 KB post goes over LMTP (smtplib) from a member of the list,
               whose posts the list accepts; the clock starts when sendmail()
               returns, that is at the receiver's 250 after its commit;
  3. delivery: the clock stops at the sink's `last` timestamp once it has
               counted every member; its record is checked: every member
               exactly once.

Phases (seconds after the 250, from the rows' timestamps): `claimed` (a
worker took the inbound message), `post_stored` (rules and handlers passed,
the Post row written), `queued` (recipient snapshot taken, batches about to
be written), `first_rcpt` and `last_rcpt` (at the sink), `recorded` (the
last batch's results stored).

Peak RSS is the sum over the site's processes (runlmtp, the dramatiq master
and its workers; or runall) of each one's peak (VmHWM): an upper bound of
their peak together. CPU seconds are those processes' user + system time
from just before the post to the last recipient. The sink, PostgreSQL and
Redis are not counted. One JSON line per run, one per group with the
medians, then a short summary.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import harness

TARGETS = {("bulk", 10_000): 15_000, ("bulk", 100_000): 50_000, ("personalized", 10_000): 3_000}
MEMORY_TARGET_MB = 400
POST_SIZE = 5 * 1024
PERSONALIZE = {"bulk": "none", "personalized": "full"}


def list_address(size: int) -> str:
    return f"fanout{size}@{harness.DOMAIN}"


def members(size: int) -> list[str]:
    return harness.member_lines(f"m{size}", size)


# Child processes


def child_roster(size: int) -> dict:
    return harness.create_list(list_address(size), members(size))


def child_mode(size: int, mode: str) -> dict:
    from lists.services import configure_list, get_list

    configure_list(get_list(list_address(size)), personalize=PERSONALIZE[mode])
    return {"personalize": PERSONALIZE[mode]}


def child_phases(message_id: str) -> dict:
    """Epoch timestamps of the post's way through the site, from its rows."""
    from django.db.models import Count, Max, Min

    from messages.dispatch import CLAIM_LEASE
    from messages.models import InboundMessage

    inbound = InboundMessage.objects.get(message_id=message_id)
    phases = {"status": inbound.status, "error": inbound.error[:500]}
    if inbound.claimed_until:
        phases["claimed"] = (inbound.claimed_until - CLAIM_LEASE).timestamp()
    post = getattr(inbound, "post", None)
    if post is not None:
        batches = post.batches.aggregate(queued=Min("next_attempt_at"), recorded=Max("updated_at"), n=Count("pk"))
        phases["post_stored"] = post.created_at.timestamp()
        phases["batches"] = batches["n"]
        if batches["n"]:
            # Batches are first due when stored, after the recipient snapshot.
            phases["queued"] = batches["queued"].timestamp()
            phases["recorded"] = batches["recorded"].timestamp()
    return phases


# The parent


def one_run(setup: str, env: dict, args, size: int, mode: str, workdir: Path) -> dict:
    sink = harness.Sink(workdir)
    sink.start()
    env = {**env, "SMTP_URL": sink.url}
    sender = members(size)[0]
    message = harness.post_bytes(list_address(size), sender, POST_SIZE)
    message_id = message.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
    result = {"setup": setup, "mode": mode, "members": size, "post_bytes": len(message)}
    try:
        with harness.running_site(setup, env, workdir, processes=args.processes, threads=args.threads) as site:
            result["site"] = site.description
            if args.warm_up:
                site.warm_up(sink, args.warm_up, args.timeout)
                sink.restart()
            # Other work on the machine skews the figures: waited for, and shown.
            result["cpu_busy_before"] = harness.wait_until_quiet(args.wait_quiet)
            result["load_average"] = [round(x, 2) for x in os.getloadavg()]
            client = site.connect()
            before, machine_before = site.usage(), harness.machine_cpu()[0]
            client.sendmail(sender, [list_address(size)], message)
            accepted_at = time.time()
            client.quit()
            try:
                status = sink.wait_for(size, args.timeout)
            except TimeoutError as exc:
                result["error"] = str(exc)
                status = None
            after, machine_after = site.usage(), harness.machine_cpu()[0]
        copies = sink.recorded()
    finally:
        sink.stop()
    phases = harness.run_child(__file__, env, "phases", message_id)
    if status is None:
        result.update(status=phases["status"], inbound_error=phases["error"])
        return result
    seconds = status.last - accepted_at
    result.update(
        seconds=round(seconds, 3),
        recipients_per_s=round(size / seconds),
        phases=timeline(phases, status, accepted_at),
        peak_rss_mb=round(after.peak_rss_mb, 1),
        cpu_seconds=round(after.cpu_seconds - before.cpu_seconds, 2),
        # Everything the machine did meanwhile: the site, the sink, PostgreSQL,
        # Redis, this script and whatever else ran.
        machine_cpu_seconds=round(machine_after - machine_before, 2),
        processes=after.processes,
        smtp_transactions=status.messages,
        exactly_once=len(copies) == size and set(copies.values()) == {1} and set(copies) == set(members(size)),
        broker=env["BROKER_URL"].split(":", 1)[0] if env["BROKER_URL"] else "in-process",
        batch_size=args.batch_size,
    )
    target = TARGETS.get((mode, size))
    if setup == "postgres" and target:
        result["target_recipients_per_s"] = target
        result["meets_target"] = result["recipients_per_s"] >= target and result["peak_rss_mb"] < MEMORY_TARGET_MB
    return result


def timeline(phases: dict, status: harness.SinkStatus, accepted_at: float) -> dict:
    """Each phase's time in seconds after the LMTP 250."""
    moments = {name: phases.get(name) for name in ("claimed", "post_stored", "queued")}
    moments.update(first_rcpt=status.first, last_rcpt=status.last, recorded=phases.get("recorded"))
    return {name: round(moment - accepted_at, 3) for name, moment in moments.items() if moment is not None}


def run_setup(setup: str, args) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        workdir = Path(tmp)
        extra = {"DELIVERY_BATCH_SIZE": str(args.batch_size)}
        with harness.prepared_setup(setup, workdir, args.broker_url, **extra) as env:
            harness.run_child(__file__, env, "warm-up-list")
            for size in args.sizes:
                harness.run_child(__file__, env, "roster", str(size))
                for mode in args.modes:
                    harness.run_child(__file__, env, "mode", str(size), mode)
                    for number in range(1, args.repeat + 1):
                        result = {"run": number, **one_run(setup, env, args, size, mode, workdir)}
                        print(json.dumps(result), flush=True)
                        results.append(result)
    return results


def medians(results: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for result in results:
        if "seconds" in result:
            groups[(result["setup"], result["mode"], result["members"])].append(result)
    lines = []
    for (setup, mode, size), runs in groups.items():
        line = {"median_of": len(runs), "setup": setup, "mode": mode, "members": size}
        for key in ("seconds", "recipients_per_s", "peak_rss_mb", "cpu_seconds", "machine_cpu_seconds"):
            line[key] = round(harness.median([run[key] for run in runs]), 3)
        for phase in ("first_rcpt", "last_rcpt"):
            line[f"{phase}_seconds"] = round(harness.median([run["phases"][phase] for run in runs]), 3)
        line["exactly_once"] = all(run["exactly_once"] for run in runs)
        line["load_average_1min"] = round(harness.median([run["load_average"][0] for run in runs]), 2)
        line["cpu_busy_before"] = round(harness.median([run["cpu_busy_before"] for run in runs]), 2)
        target = TARGETS.get((mode, size))
        if setup == "postgres" and target:
            line["target_recipients_per_s"] = target
            line["meets_target"] = line["recipients_per_s"] >= target and line["peak_rss_mb"] < MEMORY_TARGET_MB
        lines.append(line)
    return lines


def summary(lines: list[dict]) -> str:
    rows = []
    for m in lines:
        target = ""
        if "target_recipients_per_s" in m:
            verdict = "meets" if m["meets_target"] else "MISSES"
            target = f"  {verdict} target {m['target_recipients_per_s']:,}/s and < {MEMORY_TARGET_MB} MB"
        rows.append(
            f"{m['setup']:>9} {m['mode']:>12} {m['members']:>7,}: {m['recipients_per_s']:>7,.0f} rcpt/s"
            f" ({m['seconds']:.2f} s, first RCPT {m['first_rcpt_seconds']:.2f} s),"
            f" peak RSS {m['peak_rss_mb']:.0f} MB, CPU {m['cpu_seconds']:.1f} s,"
            f" load {m['load_average_1min']:.1f}{target}"
        )
    return "\n".join(rows)


def run_as_child(command: str, rest: list[str]) -> dict:
    harness.child_setup()
    if command == "warm-up-list":
        return harness.create_warm_up_list()
    if command == "roster":
        return child_roster(int(rest[0]))
    if command == "mode":
        return child_mode(int(rest[0]), rest[1])
    return child_phases(rest[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--modes", default="bulk,personalized")
    parser.add_argument("--setups", default="postgres,embedded")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each size and mode; medians are reported")
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes (postgres)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads per process")
    parser.add_argument("--batch-size", type=int, default=1000, help="DELIVERY_BATCH_SIZE")
    parser.add_argument("--warm-up", type=int, default=8, help="warm-up posts before each timed post (0: none)")
    parser.add_argument(
        "--wait-quiet", type=float, default=120, help="seconds to wait for the machine to be idle before a run"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for one run's last recipient")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_as_child(args.child[0], args.child[1:])))
        return
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.modes = args.modes.split(",")
    unknown = set(args.modes) - set(PERSONALIZE) or set(args.setups.split(",")) - set(harness.SETUPS)
    if unknown:
        parser.error(f"unknown mode or setup: {', '.join(sorted(unknown))}")
    results = []
    for setup in args.setups.split(","):
        results += run_setup(setup, args)
    lines = medians(results)
    for line in lines:
        print(json.dumps(line))
    print(summary(lines))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
