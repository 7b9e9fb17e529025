"""`manage.py runlmtp` as an operator runs it: a process that listens until
SIGTERM or SIGINT and then stops cleanly."""

import os
import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def start_runlmtp(var_dir: Path, port: int) -> subprocess.Popen:
    """Start runlmtp on embedded defaults; return once it listens."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL"}}
    env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runlmtp", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if "listening on" in line:
            return proc
    proc.kill()
    pytest.fail("runlmtp did not start listening:\n" + "".join(printed))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runlmtp_answers_lhlo_and_stops_cleanly_on_a_signal(tmp_path, signum):
    port = free_port()
    proc = start_runlmtp(tmp_path, port)
    try:
        client = smtplib.LMTP("127.0.0.1", port, timeout=10)
        code, _ = client.ehlo("mta.example.net")
        assert code == 250
        assert client.has_extn("size")

        proc.send_signal(signum)

        # An open connection is told before it is closed.
        assert client.getreply()[0] == 421
        client.close()
        assert proc.wait(timeout=15) == 0
        assert "LMTP receiver stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_runlmtp_says_so_when_the_port_is_taken(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BROKER_URL"}}
        result = subprocess.run(
            [sys.executable, "manage.py", "runlmtp", "--host", "127.0.0.1", "--port", str(taken.getsockname()[1])],
            cwd=ROOT,
            env={**env, "VAR_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert "Cannot listen on 127.0.0.1:" in result.stderr
