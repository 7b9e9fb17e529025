"""Running management commands in tests, in process or as `manage.py` children.

Both ways return an Outcome, so a test reads the same either way. The child
process runs against a throwaway database of the test run's kind (a SQLite
file, or a new database on the same PostgreSQL server), migrated once: the
in-memory SQLite test database of pytest-django is out of a child's reach.
"""

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def call(name: str, *args: str, stdin: str | bytes | IO | None = None, **options) -> Outcome:
    """Run command `name` in this process. A CommandError becomes what
    manage.py would show: its message on stderr and its exit status."""
    stdout, stderr = io.StringIO(), io.StringIO()
    if isinstance(stdin, str):
        stdin = io.StringIO(stdin)
    elif isinstance(stdin, bytes):
        stdin = io.BytesIO(stdin)
    if stdin is not None:
        options["stdin"] = stdin
    try:
        call_command(name, *args, stdout=stdout, stderr=stderr, **options)
    except CommandError as exc:
        return Outcome(exc.returncode, stdout.getvalue(), f"{stderr.getvalue()}CommandError: {exc}\n")
    return Outcome(0, stdout.getvalue(), stderr.getvalue())


@dataclass
class ChildSite:
    """A migrated throwaway database and the environment that points at it."""

    env: dict[str, str]

    def manage(self, *args: str, stdin: bytes = b"") -> Outcome:
        process = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            input=stdin,
            capture_output=True,
            timeout=120,
        )
        return Outcome(process.returncode, process.stdout.decode(), process.stderr.decode())


@contextmanager
def child_site(workdir: Path) -> Iterator[ChildSite]:
    with _throwaway_database(workdir) as url:
        site = ChildSite({**os.environ, "DATABASE_URL": url, "VAR_DIR": str(workdir)})
        migrated = site.manage("migrate", "--verbosity=0")
        assert migrated.returncode == 0, migrated.stderr
        yield site


@contextmanager
def _throwaway_database(workdir: Path) -> Iterator[str]:
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        yield f"sqlite:///{workdir / 'child.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    name = f"test_child_{uuid.uuid4().hex[:12]}"
    server = {
        "host": database["HOST"] or None,
        "port": database["PORT"] or None,
        "user": database["USER"] or None,
        "password": database["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        # The run's own DATABASE_URL, pointed at the new database.
        yield urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
