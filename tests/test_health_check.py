"""``python -m kvstore.cli.health``: the image's health check follows the server's own flags."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, ServerProcess

Factory = Callable[..., ServerProcess]


def health(*args: str) -> subprocess.CompletedProcess[str]:
    # No KVSTORE_* here: what it knows of the server must come from the server's process.
    return subprocess.run(
        [sys.executable, "-m", "kvstore.cli.health", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )


def test_a_port_and_password_given_as_flags_are_followed(server_factory: Factory) -> None:
    server = server_factory("--no-persist", "--requirepass", "secret")
    done = health("--pid", str(server.proc.pid))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"healthy: 127.0.0.1:{server.port} answered PONG\n"


def test_a_password_file_and_the_servers_environment_are_followed(
    server_factory: Factory, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    server = server_factory(
        "--no-persist", env={"KVSTORE_REQUIREPASS_FILE": str(secret), "KVSTORE_BIND": "::1"}
    )
    done = health("--pid", str(server.proc.pid))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"healthy: [::1]:{server.port} answered PONG\n"


def test_a_stopped_server_is_unhealthy(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    pid = server.proc.pid
    server.proc.terminate()
    assert server.proc.wait(timeout=15) == 0
    done = health("--pid", str(pid))
    assert done.returncode == 1
    assert done.stdout == f"unhealthy: no kvstore-server process with pid {pid}\n"


def test_a_server_that_does_not_answer_is_unhealthy(server_factory: Factory) -> None:
    server = server_factory("--no-persist", "--requirepass", "secret")
    server.proc.send_signal(signal.SIGSTOP)  # alive and listening, but silent
    try:
        done = health("--pid", str(server.proc.pid))
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert done.returncode == 1
    assert done.stdout.startswith(f"unhealthy: 127.0.0.1:{server.port}: ")
