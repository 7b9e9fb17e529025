"""The README's first command: `manage.py runall` on embedded defaults."""

import base64
import http.cookiejar
import json
import os
import re
import smtplib
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.mail_fixtures import Sink
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def start_runall(var_dir: Path, port: int, **env: str) -> tuple[subprocess.Popen, str]:
    """Start runall on embedded defaults; return it and what it printed once serving."""
    child_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL", "SEARCH_URL"}}
    child_env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **env)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runall", "--port", str(port), "--lmtp-port", "0"],
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
        lmtp_port = int(re.search(r"^LMTP:\s+127\.0\.0\.1:(\d+)", output, re.MULTILINE).group(1))
        with smtplib.LMTP("127.0.0.1", lmtp_port) as lmtp:
            assert lmtp.ehlo()[0] == 250
        assert admin_login(base, "root@example.org", "a long test password") == 200
        with urllib.request.urlopen(f"{base}/api/v3/docs/") as docs:
            assert docs.status == 200
    finally:
        stop(proc)
    assert (tmp_path / "db.sqlite3").exists()
    assert (tmp_path / "secret_key").exists()


def manage(var_dir: Path, *args: str) -> str:
    """Run a management command against the same site as a running runall."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL", "SEARCH_URL"}}
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def get_json(url: str, token_type: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"{token_type} {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_an_api_key_and_an_oauth2_client_token_both_list_lists_over_http(tmp_path):
    port = free_port()
    proc, _ = start_runall(tmp_path, port, ADMIN_EMAIL="root@example.org", ADMIN_PASSWORD="a long test password")
    base = f"http://127.0.0.1:{port}"
    try:
        manage(tmp_path, "create_list", "ant@example.com", "--create-domain")
        key = manage(tmp_path, "create_api_key", "--user", "root@example.org", "--scope", "read")
        by_key = get_json(f"{base}/api/v3/lists/", "Api-Key", key)

        client = manage(
            tmp_path,
            "shell",
            "--no-imports",
            "-c",
            "from oauth2_provider.models import Application as A; from django.contrib.auth.models import User;"
            "A.objects.create(name='ci', client_id='ci-client', client_secret='ci-secret', user=User.objects.get(),"
            " client_type='confidential', authorization_grant_type='client-credentials'); print('ok')",
        )
        assert client == "ok"
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "read"}).encode()
        request = urllib.request.Request(f"{base}/o/token/", data=form)
        request.add_header("Authorization", "Basic " + base64.b64encode(b"ci-client:ci-secret").decode())
        with urllib.request.urlopen(request) as response:
            token = json.load(response)["access_token"]
        by_token = get_json(f"{base}/api/v3/lists/", "Bearer", token)
    finally:
        stop(proc)
    assert [item["fqdn_listname"] for item in by_key["results"]] == ["ant@example.com"]
    assert by_token["results"] == by_key["results"]


def test_a_post_over_lmtp_reaches_every_member_over_smtp(tmp_path):
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    proc, output = start_runall(
        tmp_path, port, ADMIN_PASSWORD="a long test password", SMTP_URL=f"smtp://127.0.0.1:{smtp.port}"
    )
    try:
        manage(tmp_path, "create_list", "ant@example.com", "--create-domain")
        members = [f"member{n}@example.org" for n in range(25)]
        (tmp_path / "members.txt").write_text("\n".join(members))
        manage(tmp_path, "add_members", "ant@example.com", str(tmp_path / "members.txt"))
        lmtp_port = int(re.search(r"^LMTP:\s+127\.0\.0\.1:(\d+)", output, re.MULTILINE).group(1))
        post = (
            b"From: member3@example.org\r\nTo: ant@example.com\r\nSubject: Hello ants\r\n"
            b"Message-ID: <e2e@example.org>\r\n\r\nHi all.\r\n"
        )
        with smtplib.LMTP("127.0.0.1", lmtp_port) as lmtp:
            assert lmtp.sendmail("member3@example.org", ["ant@example.com"], post) == {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(sink.recipients()) < len(members):
            time.sleep(0.1)
    finally:
        stop(proc)
        smtp.stop()
    assert sorted(sink.recipients()) == sorted(members)
    delivered = sink.received[0].message
    assert delivered["Subject"] == "[ant] Hello ants"
    assert delivered["List-Id"] == "Ant <ant.example.com>"
    assert sink.received[0].mail_from == "ant-bounces@example.com"


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
