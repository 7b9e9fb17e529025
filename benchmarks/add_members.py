"""Benchmark: import N members into one list through the service layer.

    .venv/bin/python benchmarks/add_members.py [--members 100000] [--databases sqlite,postgres]

Each database gets a fresh, throwaway database (a temporary SQLite file with
the project's settings, WAL included; a new PostgreSQL database on
127.0.0.1:5432 as user postgres) and its own child process, so the peak
memory reported is that run's alone. The child times one call of
members.services.bulk_subscribe, the function `manage.py add_members` calls.
Prints one JSON line per database, then a short summary.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
# Mailman 3.3.10's `mailman addmembers`: 1,000 members in 12 s.
MAILMAN_MEMBERS_PER_S = 1000 / 12


def member_lines(count: int) -> list[str]:
    """Addresses in the three accepted forms, spread over a few domains."""
    lines = []
    for i in range(count):
        email = f"user{i:07d}@host{i % 97}.example.org"
        if i % 3 == 0:
            lines.append(email)
        elif i % 3 == 1:
            lines.append(f"{email} Member {i}")
        else:
            lines.append(f'"Member {i}" <{email}>')
    return lines


def run_child(members: int) -> dict:
    """In the child process: set up the list, then time bulk_subscribe alone."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailman_site.settings")
    import django

    django.setup()
    from lists.services import create_domain, create_list
    from members.services import bulk_subscribe

    create_domain("bench.example.org")
    mlist = create_list("bench@bench.example.org")
    lines = member_lines(members)
    started = time.perf_counter()
    result = bulk_subscribe(mlist, lines)
    seconds = time.perf_counter() - started
    if len(result.added) != members or result.invalid:
        raise SystemExit(f"expected {members} added, got {len(result.added)} ({len(result.invalid)} invalid)")
    return {
        "members": members,
        "seconds": round(seconds, 2),
        "members_per_s": round(members / seconds),
        # ru_maxrss is in kilobytes on Linux.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'bench.sqlite3'}"


@contextmanager
def postgres_database(workdir: Path) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"bench_add_members_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


DATABASES = {"sqlite": sqlite_database, "postgres": postgres_database}


def measure(database: str, members: int) -> dict:
    """Migrate a fresh database, then run the import in a child process."""
    with tempfile.TemporaryDirectory(prefix="bench-add-members-") as tmp, DATABASES[database](Path(tmp)) as url:
        env = {**os.environ, "DATABASE_URL": url, "VAR_DIR": tmp, "LOG_LEVEL": "WARNING"}
        # Migrations run in their own process so they do not count towards
        # the import's peak memory.
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--members", str(members)],
            cwd=BASE_DIR,
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    return {"database": database, **json.loads(child.stdout.strip().splitlines()[-1])}


def summary(results: list[dict]) -> str:
    lines = []
    for r in results:
        speedup = r["members_per_s"] / MAILMAN_MEMBERS_PER_S
        lines.append(
            f"{r['database']:>10}: {r['members']:,} members in {r['seconds']:.1f} s"
            f" ({r['members_per_s']:,}/s, {speedup:,.0f}x Mailman 3.3.10), peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.members)))
        return
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(databases) - set(DATABASES)
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))} (use {', '.join(DATABASES)})")
    results = []
    for database in databases:
        result = measure(database, args.members)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(summary(results))


if __name__ == "__main__":
    main()
