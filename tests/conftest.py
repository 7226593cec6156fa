"""Shared fixtures and helpers: real ``./server`` processes on free loopback ports, and reading
replies off their sockets."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
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
from typing import Any, TypeVar

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
    """A port free a moment ago. Another process may take it before a server binds it, so a
    server started on it goes through ``retry_bind`` (``start_server`` does that itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens, for as long as the block runs: the socket holds
    the port bound but does not listen, so connecting is refused and no server can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class AddressInUseError(AssertionError):
    """A server could not start because another process holds one of its ports."""

    def __init__(self, message: str, port: int | None) -> None:
        super().__init__(message)
        self.port = port


#: How the server names a port it cannot bind ("cannot listen on 127.0.0.1:5000: address
#: already in use"; the metrics endpoint adds the OS's words).
_IN_USE = re.compile(r":(\d+)\)?: .*address already in use", re.IGNORECASE)


T = TypeVar("T")


def retry_bind(start: Callable[[], T], timeout: float = START_TIMEOUT) -> T:
    """``start()`` again while it raises AddressInUseError: it picks its ports (``free_port``) each
    time, or waits for a fixed one to be released."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return start()
        except AddressInUseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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
    """A running ``./server``; its log lines are collected as they arrive, by a reader thread:
    wait for a line with ``wait_for_log``, and call ``finish_log`` (``stop`` does) before reading
    the whole log of a server that has ended."""

    proc: subprocess.Popen[str]
    port: int
    host: str = "127.0.0.1"
    log: list[str] = field(default_factory=list)
    #: The data directory start_server made for this server (removed when it stops).
    data_dir: str | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _listening: bool = False
    _reader: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if "listening on" in line:
                self._listening = True
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        # A server that failed closes its stderr before it can be seen to have exited.
        if not self._ready.wait(timeout) or not self._listening or self.proc.poll() is not None:
            self.stop()
            message = "server did not start:\n" + self.text
            in_use = _IN_USE.search(self.text)
            if in_use is not None:
                raise AddressInUseError(message, int(in_use.group(1)))
            raise AssertionError(message)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The first log line containing ``text``, once it has arrived; fails after ``timeout``
        seconds, or at once if the server ended without writing it."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self._reader is not None and not self._reader.is_alive()  # before the scan
            found = next((line for line in list(self.log) if text in line), None)
            if found is not None:
                return found
            if ended:
                raise AssertionError(f"the server ended without logging {text!r}:\n{self.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line with {text!r} in {timeout}s:\n{self.text}")
            time.sleep(0.01)

    def finish_log(self, timeout: float = 10.0) -> list[str]:
        """The whole log of a server that has ended, once the reader has taken every line."""
        self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
            assert not self._reader.is_alive(), "the log reader did not finish"
        return self.log

    @property
    def text(self) -> str:
        """The log lines read so far, as one text."""
        return "\n".join(self.log)

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)

    def stop(self) -> int:
        code = stop_process(self.proc)
        self.finish_log()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def start_server(
    *args: str, port: int | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    """A server started and listening. With no ``port``, on a free one (another one if some other
    process took it first); with one, waiting while another process holds it. Other ports in
    ``args`` taken by another process raise AddressInUseError at once: see ``retry_bind``."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        chosen = free_port() if port is None else port
        try:
            return _start_server(args, chosen, env)
        except AddressInUseError as exc:
            if exc.port != chosen or time.monotonic() > deadline:
                raise
        if port is not None:
            time.sleep(0.05)  # a fixed port: give its holder time to let it go


def run_server_to_exit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``./server`` on a free port expecting it to stop by itself (a start-up error): again
    on another port if another process took that one first."""

    def run() -> subprocess.CompletedProcess[str]:
        port = free_port()
        done = subprocess.run(
            [sys.executable, str(SERVER), "--port", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        in_use = _IN_USE.search(done.stderr)
        if in_use is not None and int(in_use.group(1)) == port:
            raise AddressInUseError(done.stderr, port)
        return done

    return retry_bind(run)


def _start_server(args: tuple[str, ...], port: int, env: dict[str, str] | None) -> ServerProcess:
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


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ServerProcess]]:
    """A real redis-server's port and a kvstore started as the comparisons start it (for
    ``wire_scripts.assert_script_matches_redis``)."""
    from redis_compare import start_kvstore_for_comparison, start_reference_redis

    reference = start_reference_redis(tmp_path_factory.mktemp("redis"))
    kvstore = start_kvstore_for_comparison()
    try:
        yield reference.port, kvstore
    finally:
        kvstore.stop()
        reference.stop()


@pytest.fixture
def pair(servers: tuple[int, ServerProcess]) -> Iterator[Any]:
    """A connection to each of ``servers``, both reset before the test: a
    ``redis_compare.RedisPair``, for comparing what the two answer (imported here, as
    redis_compare imports this module)."""
    from redis_compare import RedisPair

    redis_port, kvstore = servers
    connections = RedisPair(redis_port, kvstore.port)
    connections.reset()
    yield connections
    connections.close()
