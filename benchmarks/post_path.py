"""Benchmark: one post's work in the mail path, step by step, in one process.

    .venv/bin/python benchmarks/post_path.py [--posts 300] [--setups postgres,embedded]

For each setup (a fresh database as in harness.py; no broker, no worker
processes), a 10-member list as ingest.py's, then `--posts` posts of 2 to
5 KB, each taken through the three steps the site's processes take, called
directly: `store_inbound()` (the LMTP receiver's commit),
`process_inbound_message()` (the inbound worker: claim, rules, handlers,
the recipient snapshot) and `send_batch()` (the delivery worker, to the
counting sink on loopback). Then the posts are archived by groups
(`archive_stored_posts()`, `--archive-group` posts a call), as an inbound
worker archives its group's once done with them (there from the rows it
holds, not read again). Output, one JSON line per setup: the SQL
statements each step sends (counted on the second post, whose statements
are listed with `--show-sql`; the first warms the process up, which then
keeps the list's configuration: messages/list_configuration.py) and the
CPU milliseconds of this process per post and step (`time.process_time`, so the database's own work is not in
it) and, on PostgreSQL, of the connection's server process
(`database_cpu_ms_per_post`, read from /proc: clock ticks, so a mean over
many posts). Unlike ingest.py it needs no quiet machine to compare two versions
of the code: the statements are exact, and CPU time is less disturbed by
other work than throughput.
"""

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import harness

LIST = f"path@{harness.DOMAIN}"
MEMBERS = 10


def child(posts: int, show_sql: bool, archive_group: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from archive.models import ArchivedMessage
    from archive.services import archive_stored_posts
    from messages import nudges
    from messages.addresses import resolve_recipient
    from messages.delivery import send_batch
    from messages.dispatch import process_inbound_message
    from messages.inbound import store_inbound
    from messages.models import DeliveryBatch, InboundMessage, InboundStatus, Post

    # An inbound worker archives its group's posts itself (messages.nudges);
    # here they are archived after, apart, so that each step has its figures.
    nudges.HELD_BYTES = 0
    harness.create_list(LIST, harness.member_lines("p", MEMBERS))
    sender = harness.member_lines("p", 1)[0]
    run = os.urandom(4).hex()
    messages = [
        harness.post_bytes(LIST, sender, 2048 + (i * 389) % 3072, f"<path-{run}-{i}@bench.example.org>")
        for i in range(posts + 2)
    ]
    recipient = resolve_recipient(LIST)

    def batches(inbound_id: int) -> list[int]:
        return list(DeliveryBatch.objects.filter(post__inbound_id=inbound_id).values_list("pk", flat=True))

    steps = {"store": [], "process": [], "send": []}
    # The first post warms the process up; the second one's statements are counted.
    row = store_inbound(sender, [recipient], messages[0])[0]
    process_inbound_message(row.pk)
    for batch_id in batches(row.pk):
        send_batch(batch_id)
    with CaptureQueriesContext(connection) as stored:
        row = store_inbound(sender, [recipient], messages[1])[0]
    with CaptureQueriesContext(connection) as processed:
        process_inbound_message(row.pk)
    ids = batches(row.pk)
    with CaptureQueriesContext(connection) as sent:
        for batch_id in ids:
            send_batch(batch_id)
    for name, captured in zip(steps, (stored, processed, sent), strict=True):
        steps[name] = [query["sql"] for query in captured.captured_queries]
    cpu = dict.fromkeys(steps, 0.0)
    database_cpu = dict.fromkeys(steps, 0.0)
    server = database_server_cpu(connection)
    for raw in messages[2:]:
        began, server_began = time.process_time(), server()
        row = store_inbound(sender, [recipient], raw)[0]
        stored_at, server_stored_at = time.process_time(), server()
        process_inbound_message(row.pk)
        processed_at, server_processed_at = time.process_time(), server()
        ids = batches(row.pk)
        listed_at, server_listed_at = time.process_time(), server()
        for batch_id in ids:
            send_batch(batch_id)
        cpu["store"] += stored_at - began
        cpu["process"] += processed_at - stored_at
        cpu["send"] += time.process_time() - listed_at
        database_cpu["store"] += server_stored_at - server_began
        database_cpu["process"] += server_processed_at - server_stored_at
        database_cpu["send"] += server() - server_listed_at
    accepted = InboundMessage.objects.filter(rcpt_to=LIST, status=InboundStatus.ACCEPTED).count()
    result = {
        "posts": posts,
        "all_accepted": accepted == posts + 2,
        "statements": {name: len(sql) for name, sql in steps.items()},
        "cpu_ms_per_post": {name: round(1000 * seconds / posts, 2) for name, seconds in cpu.items()},
    }
    result["cpu_ms_per_post"]["total"] = round(sum(result["cpu_ms_per_post"].values()), 2)
    if connection.vendor == "postgresql":
        result["database_cpu_ms_per_post"] = {name: round(1000 * s / posts, 2) for name, s in database_cpu.items()}
        result["database_cpu_ms_per_post"]["total"] = round(sum(result["database_cpu_ms_per_post"].values()), 2)
    # The posts were accepted without a broker, their archiving left to it: none is archived yet.
    post_ids = list(
        Post.objects.filter(mailing_list=recipient.mailing_list).order_by("sequence").values_list("pk", flat=True)
    )
    began, server_began = time.process_time(), server()
    for start in range(2, len(post_ids), archive_group):
        archive_stored_posts(post_ids[start : start + archive_group])
    result["archive"] = {
        "group": archive_group,
        "all_archived": ArchivedMessage.objects.filter(post__in=post_ids[2:]).count() == posts,
        "cpu_ms_per_post": round(1000 * (time.process_time() - began) / posts, 2),
    }
    if connection.vendor == "postgresql":
        result["archive"]["database_cpu_ms_per_post"] = round(1000 * (server() - server_began) / posts, 2)
    if show_sql:
        result["sql"] = steps
    return result


def database_server_cpu(connection) -> Callable[[], float]:
    """A clock of the CPU seconds of this connection's PostgreSQL backend
    process (on this machine: the benchmark runs on loopback), or of nothing."""
    if connection.vendor != "postgresql":
        return lambda: 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return partial(harness.process_cpu_seconds, pid)


def run_setup(setup: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-path-") as tmp:
        workdir = Path(tmp)
        sink = harness.Sink(workdir)
        sink.start()
        try:
            with harness.prepared_setup(setup, workdir, "", SMTP_URL=sink.url, LOG_LEVEL="WARNING") as env:
                argv = ["child", str(args.posts), "sql" if args.show_sql else "-", str(args.archive_group)]
                result = harness.run_child(__file__, env, *argv)
            try:
                sink.wait_for((args.posts + 2) * MEMBERS, 60)
                result["all_delivered"] = True
            except TimeoutError:
                result["all_delivered"] = False
        finally:
            sink.stop()
    return {"setup": setup, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--setups", default="postgres,embedded")
    parser.add_argument("--show-sql", action="store_true", help="list the first post's statements")
    parser.add_argument(
        "--archive-group", type=int, default=32, help="posts archived a call (messages.inbound.GROUP_SIZE)"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        harness.child_setup()
        print(json.dumps(child(int(args.child[1]), args.child[2] == "sql", int(args.child[3]))))
        return
    for setup in args.setups.split(","):
        if setup not in harness.SETUPS:
            parser.error(f"unknown setup: {setup}")
        print(json.dumps(run_setup(setup, args)), flush=True)


if __name__ == "__main__":
    main()
