"""Start, watch and stop the two servers: ``redis-server`` and kvstore's ``./server``, each on a
free loopback port in its own temporary directory, with equivalent settings per pairing."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import children, wire

ROOT = Path(__file__).resolve().parent.parent
KVSTORE = ROOT / "server"
BARE_SERVER = ROOT / "benchmarks" / "bare_server.py"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: Persistence flags the kvstore server must list in ``--help`` for each pairing.
PERSIST_FLAGS = ("--dir", "--appendfsync")
NO_PERSIST_FLAG = "--no-persist"


#: What each kind of server writes to its log once it listens: a PING alone could be answered
#: by another process that took the port first.
READY_LINES = {
    "redis": "Ready to accept connections",
    "kvstore": "listening on",
    "bare": "listening on",
}
#: How many fresh ports ServerSet.start tries when another process takes the port first.
START_ATTEMPTS = 5


class PortTakenError(RuntimeError):
    """The server could not bind its port: another process took it after free_port chose it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kvstore_command() -> list[str]:
    """``./server`` run by this interpreter, so the venv's uvloop and hiredis are used."""
    return [sys.executable, str(KVSTORE)]


def kvstore_help() -> str:
    result = subprocess.run(
        [*kvstore_command(), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    return result.stdout + result.stderr


@dataclass(frozen=True)
class Capabilities:
    """What this checkout's kvstore server accepts, read from its ``--help``."""

    persistence: bool
    no_persist: bool
    maxclients: bool

    @classmethod
    def from_help(cls, text: str) -> Capabilities:
        return cls(
            persistence=all(flag in text for flag in PERSIST_FLAGS),
            no_persist=NO_PERSIST_FLAG in text,
            maxclients="--maxclients" in text,
        )


@dataclass(frozen=True)
class Pairing:
    """Equivalent settings for both servers; ``{dir}`` stands for the server's own directory."""

    name: str
    description: str
    redis_args: tuple[str, ...]
    kvstore_args: tuple[str, ...]
    #: False when kvstore cannot run with the settings Redis runs with.
    comparable: bool = True
    note: str = ""


def pairings(caps: Capabilities) -> list[Pairing]:
    aof = Pairing(
        "aof",
        "append-only log on, fsync every second",
        ("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
        ("--dir", "{dir}", "--appendfsync", "everysec") if caps.persistence else (),
        comparable=caps.persistence,
        note="" if caps.persistence else "kvstore persistence not available",
    )
    memory = Pairing(
        "memory",
        "persistence off",
        ("--appendonly", "no", "--save", ""),
        (NO_PERSIST_FLAG,) if caps.no_persist else (),
        note="" if caps.no_persist else "kvstore has no --no-persist flag: it ran as is, in memory",
    )
    return [aof, memory]


@dataclass
class Server:
    """One running server process; its output goes to ``server.log`` in its directory."""

    kind: str  # "redis", "kvstore" or "bare" (benchmarks.bare_server)
    argv: list[str]
    directory: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Start the process and return once it says it listens and answers PING; raise
        PortTakenError if it could not bind its port."""
        self.launch()
        ready = READY_LINES[self.kind]
        self.wait_until(
            lambda sock: ready in self.log_tail() and wire.call(sock, "PING") == b"PONG", "PING"
        )
        self.ready_after = time.monotonic() - self.started_at

    def launch(self) -> None:
        """Start the process, in its own session so a Ctrl-C reaches only the harness."""
        log = (self.directory / "server.log").open("ab")
        self.started_at = time.monotonic()
        with children.stop_signals_held():  # stored before a Ctrl-C can interrupt
            self.proc = children.popen(
                self.argv,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.close()

    def wait_until(self, check: wire.Check, what: str, timeout: float = START_TIMEOUT) -> None:
        """Poll a fresh connection until ``check`` holds (a server still loading answers with
        an error or refuses: both mean not yet)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                tail = self.log_tail()
                if "address already in use" in tail.lower():
                    raise PortTakenError(f"{self.kind}: port {self.port} taken:\n{tail}")
                raise RuntimeError(f"{self.kind} exited while starting:\n{tail}")
            try:
                with wire.connect(self.port, timeout=5.0) as sock:
                    if check(sock):
                        return
            except (OSError, wire.ServerReplyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not answer {what} within {timeout}s")
            time.sleep(0.005)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM (both servers stop gracefully on it), then SIGKILL if it lingers."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        path = self.directory / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def banner(self) -> str:
        """kvstore's start-up line (event loop, parser) or Redis's version line."""
        for line in (self.directory / "server.log").read_text(errors="replace").splitlines():
            if "listening on" in line or "Redis version" in line:
                return line.split(": ", 1)[-1].strip() if self.kind == "kvstore" else line
        return ""

    def disk_usage(self) -> int:
        return sum(
            path.stat().st_size
            for path in self.directory.rglob("*")
            if path.is_file() and path.name != "server.log"
        )


class ServerSet:
    """Every server started by the harness, stopped and deleted in ``close()`` (also on
    Ctrl-C: the harness calls it from a ``finally``)."""

    def __init__(self, caps: Capabilities, maxclients: int) -> None:
        self.caps = caps
        self.maxclients = maxclients
        self.servers: list[Server] = []

    def create(self, kind: str, pairing: Pairing) -> Server:
        directory = Path(tempfile.mkdtemp(prefix=f"kvstore-bench-{kind}-"))
        port = free_port()
        if kind == "bare":  # benchmarks.ceiling's reference server: no settings to pair
            argv = [sys.executable, str(BARE_SERVER), "--port", str(port)]
        elif kind == "redis":
            argv = [
                "redis-server",
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", str(directory),
                "--daemonize", "no",
                "--maxclients", str(self.maxclients),
                *pairing.redis_args,
            ]  # fmt: skip
        else:
            extra = [arg.replace("{dir}", str(directory)) for arg in pairing.kvstore_args]
            if self.caps.maxclients:
                extra += ["--maxclients", str(self.maxclients)]
            argv = [*kvstore_command(), "--port", str(port), "--bind", "127.0.0.1", *extra]
        server = Server(kind, argv, directory, port)
        self.servers.append(server)
        return server

    def start(self, kind: str, pairing: Pairing) -> Server:
        """A server of ``kind`` started on a free port (another one if the first was taken)."""
        for attempt in range(1, START_ATTEMPTS + 1):
            server = self.create(kind, pairing)
            try:
                server.start()
            except PortTakenError:
                self.discard(server)
                if attempt == START_ATTEMPTS:
                    raise
                continue
            return server
        raise AssertionError("unreachable")

    def discard(self, server: Server) -> None:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
        if server in self.servers:
            self.servers.remove(server)

    def close(self) -> None:
        for server in list(self.servers):
            self.discard(server)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def redis_tools_available() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-benchmark") is not None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime and stime fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU time used by this process's finished children (each redis-benchmark run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
