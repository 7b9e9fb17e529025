"""The README's first command: `manage.py runall` on embedded defaults."""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_runall(var_dir: Path, port: int, **env: str) -> tuple[subprocess.Popen, str]:
    """Start runall on embedded defaults; return it and what it printed once serving."""
    child_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL", "SEARCH_URL"}}
    child_env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **env)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runall", "--port", str(port)],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = []
    # waitress logs "Serving on http://host:port" once it listens.
    for line in proc.stdout:
        printed.append(line)
        if "Serving on" in line:
            return proc, "".join(printed)
    proc.kill()
    pytest.fail("runall did not start serving:\n" + "".join(printed))


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def admin_login(base: str, email: str, password: str) -> int:
    """Log in to Django admin like a browser; return the status of the admin index."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/?next=/admin/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": email, "password": password, "next": "/admin/"}
    ).encode()
    request = urllib.request.Request(f"{base}/admin/login/", data=form, headers={"Referer": f"{base}/admin/login/"})
    with opener.open(request) as response:
        assert response.url.endswith("/admin/"), "login did not reach the admin index"
        return response.status


def test_runall_serves_the_site_and_the_first_admin_can_log_in(tmp_path):
    port = free_port()
    proc, output = start_runall(tmp_path, port, ADMIN_EMAIL="root@example.org", ADMIN_PASSWORD="a long test password")
    try:
        base = f"http://127.0.0.1:{port}"
        assert f"Web UI:        {base}/" in output
        assert f"{base}/api/v3/docs/" in output
        assert "root@example.org" in output
        assert admin_login(base, "root@example.org", "a long test password") == 200
        with urllib.request.urlopen(f"{base}/api/v3/docs/") as docs:
            assert docs.status == 200
    finally:
        stop(proc)
    assert (tmp_path / "db.sqlite3").exists()
    assert (tmp_path / "secret_key").exists()


def test_runall_prints_a_generated_password_once(tmp_path):
    port = free_port()
    proc, output = start_runall(tmp_path, port, ADMIN_EMAIL="root@example.org")
    try:
        password = re.search(r"^Password:\s+(\S+)", output, re.MULTILINE).group(1)
        assert admin_login(f"http://127.0.0.1:{port}", "root@example.org", password) == 200
    finally:
        stop(proc)
    proc, output = start_runall(tmp_path, port, ADMIN_EMAIL="root@example.org")
    stop(proc)
    assert "already set up" in output
    assert password not in output
