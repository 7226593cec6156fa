"""Shared fixtures and helpers: real ``./server`` processes on free loopback ports, and reading
replies off their sockets."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"
CLIENT = ROOT / "client"

#: The two ways the server can run: with the optional accelerators (the compiled build where it
#: is built, and its parser) and on the standard library (the pure build).
VARIANTS = {
    "fast": ["--event-loop", "uvloop", "--parser", "auto"],
    "pure": ["--event-loop", "asyncio", "--parser", "python", "--pure"],
}
START_TIMEOUT = 15.0

#: Persistence is on by default: a server the tests start without ``--dir`` must not write into
#: the checkout. ``start_server`` gives each server a directory of its own; servers run other
#: ways (``--help``, bad options) fall back to this one through the environment.
_SCRATCH = tempfile.mkdtemp(prefix="kvstore-tests-")
atexit.register(shutil.rmtree, _SCRATCH, True)
os.environ["KVSTORE_DIR"] = os.path.join(_SCRATCH, "data")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds, checking often, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def stop_process(proc: subprocess.Popen[Any]) -> int:
    """Terminate ``proc`` (kill it if it lingers) unless it has ended; return its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes; fails if the connection closes first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}, {size} bytes expected")
        data += chunk
    return data


def read_to_eof(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything until the server closes; fails if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server did not close; received {data[:200]!r}") from None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


@dataclass
class ServerProcess:
    """A running ``./server``; its log lines are collected as they arrive."""

    proc: subprocess.Popen[str]
    port: int
    host: str = "127.0.0.1"
    log: list[str] = field(default_factory=list)
    #: The data directory start_server made for this server (removed when it stops).
    data_dir: str | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if "listening on" in line:
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(timeout) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("server did not start:\n" + "\n".join(self.log))

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)

    def stop(self) -> int:
        code = stop_process(self.proc)
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def start_server(
    *args: str, port: int | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    port = free_port() if port is None else port
    data_dir = None
    if "--dir" not in args and "--no-persist" not in args:
        data_dir = tempfile.mkdtemp(prefix="kvstore-data-", dir=_SCRATCH)
        args = (*args, "--dir", data_dir)
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    server = ServerProcess(proc, port, data_dir=data_dir)
    server.wait_ready()
    return server


@pytest.fixture
def server_factory() -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with any arguments; all are stopped at the end of the test."""
    started: list[ServerProcess] = []

    def factory(*args: str, **kwargs: object) -> ServerProcess:
        server = start_server(*args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server shared by a module's tests, once per variant (fast and pure)."""
    process = start_server(*VARIANTS[request.param])
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fast_server() -> Iterator[ServerProcess]:
    """One server with the accelerators, for tests where the variant does not matter."""
    process = start_server(*VARIANTS["fast"])
    yield process
    process.stop()
