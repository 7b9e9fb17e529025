"""Benchmark: import and index a generated archive, then search it.

    .venv/bin/python benchmarks/archive.py [--messages 100000] [--database sqlite|postgres]
        [--search-url sqlite://|whoosh://|URL] [--rounds 10]

A realistic archive of `--messages` messages is generated into an mbox
(threads of replies quoting their parent, a mix of short, medium and long
bodies drawn from a Zipf-like vocabulary, 2,000 senders over five years,
some attachments, a 1,500-deep reply chain and some replies whose parent
never arrives), then imported with `manage.py archive_import` into a fresh
database (default: the embedded setup, a SQLite file and the FTS5 index
of archive.fts5_backend, in a temporary directory) in a child process
of its own, so the peak memory is the import's. The command archives in
batches (archive.bulk_import) and indexes each batch with one index write
(archive.search_indexing); both phases are timed.

Then a fixed set of queries (one common word, one rare word, a phrase,
from:, a date range with a word, a word in one list) is run `--rounds`
times through archive.search.search, as an anonymous reader of the public
list, each call timed whole (parsing, engine, loading the page of hits
from the database, snippets).

The search engine is --search-url, else SEARCH_URL, else sqlite:// (the
default, FTS5); a URL without a path (sqlite://, whoosh://) puts the index
in the temporary directory.

Prints one JSON line per phase (import, search), then a short summary.
"""

import argparse
import base64
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
LIST = "bench@bench.example.org"
SENDERS = 2000
CHAIN_DEPTH = 1500
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=5 * 365)
COMMON_WORDS = (
    "the of and to in is that for it with as on be this are by not from have or but an they which you one we all"
    " release build patch version bug fix test error install package mail list server config please thanks"
).split()
PHRASE = "release candidate"
# What HyperKitty (haystack + Whoosh as shipped) measured on 100,000 messages.
HYPERKITTY = {"import_per_s": 115, "index_per_s": 129, "search_p50_ms": 996, "search_p95_ms": 1116}
TARGETS = {"combined_per_s": 500, "search_p95_ms": 100}


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnoprstuvwy"
    words = list(COMMON_WORDS)
    while len(words) < size:
        words.append("".join(rng.choice(letters) for _ in range(rng.randint(4, 11))))
    return words


def sentence_maker(rng: random.Random, words: list[str]):
    # Zipf: the n-th word is drawn with weight 1/n.
    weights = [1 / (rank + 1) for rank in range(len(words))]
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)

    def text(count: int) -> str:
        drawn = rng.choices(words, cum_weights=cumulative, k=count)
        if rng.random() < 0.05:
            drawn.insert(rng.randrange(len(drawn) + 1), PHRASE)
        lines, line = [], []
        for word in drawn:
            line.append(word)
            if len(line) >= 12:
                lines.append(" ".join(line))
                line = []
        lines.append(" ".join(line))
        return "\n".join(lines)

    return text


def body_length(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.70:
        return rng.randint(30, 120)
    if roll < 0.95:
        return rng.randint(200, 600)
    return rng.randint(1000, 3000)


def render(
    number: int,
    *,
    sender: int,
    date: datetime,
    subject: str,
    body: str,
    parents: list[str],
    attachment: bytes | None = None,
) -> bytes:
    headers = [
        f"From: Person {sender} <person{sender}@example.org>",
        f"To: {LIST}",
        f"Subject: {subject}",
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <bench{number}@example.org>",
    ]
    if parents:
        headers.append(f"In-Reply-To: <{parents[-1]}>")
        headers.append("References: " + " ".join(f"<{p}>" for p in parents[-10:]))
    if attachment is None:
        headers.append("Content-Type: text/plain; charset=utf-8")
        return ("\n".join(headers) + "\n\n" + body + "\n").encode()
    encoded = base64.encodebytes(attachment).decode()
    headers += ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="=-bench-="']
    return (
        "\n".join(headers)
        + "\n\n--=-bench-=\nContent-Type: text/plain; charset=utf-8\n\n"
        + body
        + "\n--=-bench-=\nContent-Type: application/octet-stream\n"
        + f'Content-Disposition: attachment; filename="data{number}.bin"\nContent-Transfer-Encoding: base64\n\n'
        + encoded
        + "--=-bench-=--\n"
    ).encode()


def generate_mbox(path: Path, count: int, seed: int = 1) -> dict:
    """Write `count` messages to `path`; returns what the queries need."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    text = sentence_maker(rng, words)
    step = SPAN / max(count, 1)
    # (message id, ancestry, subject, body) of recent messages replies may answer.
    recent: list[tuple[str, list[str], str, str]] = []
    chain_at = count // 3
    written = 0
    with open(path, "wb") as mbox:

        def write(raw: bytes, date: datetime) -> None:
            mbox.write(f"From bench@example.org {date.strftime('%a %b %d %H:%M:%S %Y')}\n".encode())
            mbox.write(raw.replace(b"\nFrom ", b"\n>From "))
            mbox.write(b"\n")

        number = 0
        while written < count:
            date = START + step * written
            number += 1
            if written == chain_at:
                depth = min(CHAIN_DEPTH, count - written)
                parents: list[str] = []
                for level in range(depth):
                    raw = render(
                        number,
                        sender=level % 7,
                        date=date + timedelta(seconds=level),
                        subject="Re: the long chain" if level else "The long chain",
                        body=text(20),
                        parents=parents,
                    )
                    parents = [*parents, f"bench{number}@example.org"]
                    write(raw, date)
                    number += 1
                    written += 1
                continue
            sender = min(int(rng.paretovariate(1.2)), SENDERS)
            attachment = rng.randbytes(rng.randint(2_000, 40_000)) if rng.random() < 0.02 else None
            if recent and rng.random() < 0.75:
                parent_id, ancestry, subject, parent_body = rng.choice(recent[-400:])
                quoted = "\n".join(f"> {line}" for line in parent_body.splitlines()[:15])
                body = f"Person wrote:\n{quoted}\n\n{text(body_length(rng))}"
                parents = [*ancestry, parent_id]
                if rng.random() < 0.01:
                    parents = [f"lost{number}@example.org", *parents]  # a parent that never arrives
                subject = subject if subject.startswith("Re: ") else f"Re: {subject}"
            else:
                body, parents = text(body_length(rng)), []
                subject = " ".join(rng.choices(words[:2000], k=rng.randint(2, 7))).capitalize()
            raw = render(
                number, sender=sender, date=date, subject=subject, body=body, parents=parents, attachment=attachment
            )
            write(raw, date)
            recent.append((f"bench{number}@example.org", parents[-20:], subject, body))
            if len(recent) > 2000:
                del recent[:1000]
            written += 1
    return {"rare_word": words[5000], "common_word": "release", "sender": "person3@example.org"}


QUERIES = [
    "{common_word}",
    "{rare_word}",
    '"{phrase}"',
    "from:{sender}",
    "from:{sender} {common_word}",
    "{common_word} after:2023-01-01 before:2023-03-01",
    "patch bug",
    "subject:{rare_word}",
]


def run_child(mbox: str, rounds: int, hints: dict) -> dict:
    """In the child process: import the mbox through archive_import, then search."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailman_site.settings")
    import django

    django.setup()
    from django.contrib.auth.models import AnonymousUser
    from django.core.management import call_command
    from haystack import connections

    import archive.management.commands.archive_import as import_command
    from archive.models import ArchivedMessage
    from archive.search import search
    from lists.services import create_domain, create_list

    create_domain("bench.example.org")
    mlist = create_list(LIST)
    create_list("other@bench.example.org")
    # Indexing runs in a process of its own beside the archiving when the
    # command can (import_command.can_index_in_parallel), else inline after
    # each batch; either way the time the command spends in it is measured.
    indexing = {"seconds": 0.0}
    index_messages, finish = import_command.index_messages, import_command.IndexingProcess.finish

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                indexing["seconds"] += time.perf_counter() - started

        return wrapper

    import_command.index_messages = timed(index_messages)
    import_command.IndexingProcess.finish = timed(finish)
    parallel = import_command.can_index_in_parallel()
    started = time.perf_counter()
    call_command("archive_import", LIST, mbox, stdout=io.StringIO(), stderr=io.StringIO())
    total = time.perf_counter() - started
    count = ArchivedMessage.objects.filter(mailing_list=mlist).count()
    unindexed = ArchivedMessage.objects.filter(indexed=False).count()
    backend = connections["default"].get_backend()
    size = backend.size_on_disk() if hasattr(backend, "size_on_disk") else None
    imported = {
        "phase": "import",
        "messages": count,
        "index_in_parallel": parallel,
        "seconds": round(total, 1),
        "combined_per_s": round(count / total),
        # Inline: the archiving alone. In parallel: the archiving, while the
        # other process indexed; then the wait for the indexing to finish.
        "archive_seconds": round(total - indexing["seconds"], 1),
        "archive_per_s": round(count / (total - indexing["seconds"])),
        ("index_wait_seconds" if parallel else "index_seconds"): round(indexing["seconds"], 1),
        "index_per_s": None if parallel else round(count / indexing["seconds"]),
        "index_mb": round(size / 2**20, 1) if size is not None else None,
        "indexed_documents": backend.document_count() if hasattr(backend, "document_count") else None,
        "unindexed_rows": unindexed,
        # ru_maxrss is in kilobytes on Linux: this process's peak; the
        # indexing process (a fork) has its own, RUSAGE_CHILDREN.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "indexer_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    queries = [query.format(phrase=PHRASE, **hints) for query in QUERIES]
    anonymous = AnonymousUser()
    timings: dict[str, list[float]] = {query: [] for query in queries}
    hits: dict[str, int] = {}
    for query in queries:  # warm-up: open the index, fill the caches
        search(anonymous, query)
    for _round in range(rounds):
        for query in queries:
            started = time.perf_counter()
            page = search(anonymous, query)
            timings[query].append((time.perf_counter() - started) * 1000)
            hits[query] = len(page.hits)
    samples = sorted(sample for values in timings.values() for sample in values)
    searched = {
        "phase": "search",
        "queries": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1),
        "max_ms": round(samples[-1], 1),
        "per_query_p50_ms": {query: round(statistics.median(values), 1) for query, values in timings.items()},
        "hits_on_first_page": hits,
    }
    return {"import": imported, "search": searched}


def database_url(kind: str, workdir: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    import psycopg
    from psycopg import sql

    name = f"bench_archive_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{POSTGRES_SERVER}/{name}", name


def drop_postgres(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def search_url(url: str, workdir: Path) -> str:
    """`url`, or for an embedded engine named without a path, its index in `workdir`."""
    parts = urlsplit(url)
    if parts.path or parts.netloc:
        return url
    return f"{parts.scheme}://{workdir / ('whoosh' if parts.scheme == 'whoosh' else 'search.sqlite3')}"


def measure(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        workdir = Path(tmp)
        mbox = workdir / "archive.mbox"
        started = time.perf_counter()
        hints = generate_mbox(mbox, args.messages)
        generated = time.perf_counter() - started
        mbox_mb = round(mbox.stat().st_size / 2**20, 1)
        url, pg_name = database_url(args.database, workdir)
        try:
            env = {
                **{key: value for key, value in os.environ.items() if key not in ("SEARCH_URL",)},
                "DATABASE_URL": url,
                "VAR_DIR": tmp,
                "SEARCH_URL": search_url(args.search_url, workdir),
                "LOG_LEVEL": "WARNING",
            }
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mbox.as_posix(),
                    "--rounds",
                    str(args.rounds),
                    "--hints",
                    json.dumps(hints),
                ],
                cwd=BASE_DIR,
                env=env,
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            )
        finally:
            if pg_name:
                drop_postgres(pg_name)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    scheme = urlsplit(args.search_url).scheme
    engine = "fts5" if scheme == "sqlite" else scheme
    common = {"database": args.database, "search": engine, "load_average": os.getloadavg()[0]}
    result["import"] = {**common, "mbox_mb": mbox_mb, "generate_seconds": round(generated, 1), **result["import"]}
    result["search"] = {**common, **result["search"]}
    return result


def summary(result: dict) -> str:
    imported, searched = result["import"], result["search"]
    return "\n".join(
        [
            f"{imported['messages']:,} messages ({imported['database']} + {imported['search']}): "
            f"imported and indexed in {imported['seconds']:.0f} s = {imported['combined_per_s']:,}/s combined "
            f"(archiving {imported['archive_per_s']:,}/s, indexing "
            f"{'in parallel' if imported['index_in_parallel'] else str(imported['index_per_s']) + '/s'}; "
            f"HyperKitty {HYPERKITTY['import_per_s']}/s and {HYPERKITTY['index_per_s']}/s; "
            f"target {TARGETS['combined_per_s']}/s), index {imported['index_mb']} MB, "
            f"peak RSS {imported['peak_rss_mb']:.0f} MB",
            f"search: p50 {searched['p50_ms']} ms, p95 {searched['p95_ms']} ms over {searched['queries']} queries "
            f"(HyperKitty p50 {HYPERKITTY['search_p50_ms']} ms, p95 {HYPERKITTY['search_p95_ms']} ms; "
            f"target p95 < {TARGETS['search_p95_ms']} ms); load average {searched['load_average']:.2f}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--search-url",
        default=os.environ.get("SEARCH_URL") or "sqlite://",
        help="the search engine: sqlite:// (FTS5, default), whoosh://, or a full SEARCH_URL",
    )
    parser.add_argument("--rounds", type=int, default=10, help="times each query is run (default 10)")
    parser.add_argument("--child", metavar="MBOX", help=argparse.SUPPRESS)
    parser.add_argument("--hints", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.rounds, json.loads(args.hints))))
        return
    print(f"search engine: {args.search_url}", file=sys.stderr, flush=True)
    result = measure(args)
    print(json.dumps(result["import"]), flush=True)
    print(json.dumps(result["search"]), flush=True)
    print(summary(result))


if __name__ == "__main__":
    main()
