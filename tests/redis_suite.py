"""Run Redis's own Tcl test suite against a kvstore server, as an external server, and tell per
unit what passed, what failed and what was skipped because it needs a data type kvstore does not
have (docs/compatibility.md). ``scripts/redis-test-suite`` is the command; tests/test_redis_suite.py
runs it when REDIS_SRC names a Redis source tree.

Each unit runs in a runtest of its own against a server of its own, so a unit that stops on an
error outside a test, or leaves a setting changed, cannot spoil the others; ``--durable`` makes
an error inside a test a failure of that test rather than the end of the unit.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"
#: Tests that need hashes, lists, sets, sorted sets, streams or HyperLogLogs: one exact test
#: name a line.
SKIPS = Path(__file__).resolve().parent / "redis_suite_skips.txt"

#: The units about strings, keys, expiry, transactions, the protocol, bitmaps, pub/sub,
#: introspection, latency, CLIENT PAUSE and INFO (unit/info and unit/pubsubshard are marked
#: external:skip in 7.0.15: runtest would run none of their tests).
DEFAULT_UNITS = (
    "unit/type/string",
    "unit/type/incr",
    "unit/keyspace",
    "unit/scan",
    "unit/dump",
    "unit/expire",
    "unit/multi",
    "unit/protocol",
    "unit/bitops",
    "unit/other",
    "unit/introspection",
    "unit/introspection-2",
    "unit/latency-monitor",
    "unit/pubsub",
    "unit/pause",
    "unit/info-command",
)

#: As a peer checks a server: against it from outside, in one database, never looking at object
#: encodings, leaving out what needs DEBUG, replicas or much time.
RUNTEST_FLAGS = (
    "--singledb",
    "--ignore-encoding",
    "--durable",
    "--tags",
    "-slow -needs:debug -needs:repl",
)

#: What the suite needs of the server: RESP for its inline requests (``readraw`` tests), and a
#: memory limit from the start (one it never reaches), so ``CONFIG SET maxmemory`` can change it.
SERVER_FLAGS = ("--bind", "127.0.0.1", "--inline-replies", "resp", "--maxmemory", "64gb")

#: Tests that fail for a reason docs/compatibility.md gives, other than a missing data type:
#: they still run (and would count as passed once kvstore does what they need).
KNOWN_DIFFERENCES = {
    "MULTI and script timeout": "needs Lua scripting (EVAL, SCRIPT KILL, lua-time-limit)",
    "EXEC and script timeout": "needs Lua scripting (EVAL, SCRIPT KILL, lua-time-limit)",
    "MULTI-EXEC body and script timeout": "needs Lua scripting (EVAL, SCRIPT KILL, lua-time-limit)",
    "just EXEC and script timeout": "needs Lua scripting (EVAL, SCRIPT KILL, lua-time-limit)",
    "RESET clears authenticated state": "needs ACL users (ACL SETUSER, ACL WHOAMI)",
    "MONITOR can log commands issued by the scripting engine": "needs Lua scripting (EVAL)",
    "MONITOR can log commands issued by functions": "needs Lua functions (FUNCTION LOAD, FCALL)",
    "CONFIG SET with multiple args": "needs save points (CONFIG SET save)",
    "CONFIG SET rollback on set error": "needs maxmemory-clients (client eviction)",
    "CONFIG SET rollback on apply error": "needs CONFIG SET port (kvstore's port is fixed)",
    "CONFIG GET hidden configs": "needs Redis's hidden debugging config key-load-delay",
    "CONFIG GET multiple args": "needs the slaveof alias and maxmemory-samples/-clients configs",
    "TTL, TYPE and EXISTS do not alter the last access time of a key": (
        "kvstore tracks access times only under an -lru policy; OBJECT IDLETIME is 0 otherwise"
    ),
    "command stats for scripts": "needs Lua scripting (EVAL)",
    "COMMAND GETKEYS MEMORY USAGE": "needs MEMORY USAGE",
    "COMMAND GETKEYS EVAL with keys": "needs Lua scripting (EVAL)",
    "COMMAND GETKEYS EVAL without keys": "needs Lua scripting (EVAL)",
    "COMMAND LIST FILTERBY ACLCAT - list all commands/subcommands": "needs Lua scripting (EVAL)",
    "COMMAND LIST FILTERBY PATTERN - list all commands/subcommands": ("needs CONFIG REWRITE"),
    "EVAL command is marked with movablekeys": "needs Lua scripting (EVAL)",
    "MIGRATE command is marked with movablekeys": "needs MIGRATE",
    "LATENCY RESET is able to reset events": (
        "needs the events of tests left out before it (DEBUG SLEEP, Lua); "
        "a redis-server run this way fails it too"
    ),
    "Test RO scripts are not blocked by pause RO": "needs Lua scripting and functions",
    "Test read-only scripts in mutli-exec are not blocked by pause RO": (
        "needs Lua scripting (EVAL)"
    ),
    "Test write scripts in mutli-exec are blocked by pause RO": "needs Lua scripting (EVAL)",
    "Test may-replicate commands are rejected in RO scripts": "needs Lua scripting (EVAL_RO)",
}

#: Tests left out (handed to runtest's skip list with the data-type ones) because, failing
#: for a reason of KNOWN_DIFFERENCES' kind, they would stall or spoil the rest of their unit.
LEFT_OUT = {
    "Test scripts are blocked by pause RO": (
        "needs Lua scripting; failing, it leaves CLIENT PAUSE WRITE on, and the next test's "
        "first write waits a minute for it to end"
    ),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STATUS = re.compile(r"^\[(ok|err|skip|ignore|exception)\]: (.*)$")
_ERR_NAME = re.compile(r"^(.*) in tests/\S+\.tcl$")
_OK_NAME = re.compile(r"^(.*) \(\d+ ms\)$")
START_TIMEOUT = 30.0


@dataclass
class UnitResult:
    """What one unit's run printed, sorted by outcome."""

    unit: str
    passed: list[str] = field(default_factory=list)
    #: Failed test name -> the first line of what went wrong.
    failed: dict[str, str] = field(default_factory=dict)
    #: Left out on purpose: the test needs a data type kvstore does not have.
    skipped: list[str] = field(default_factory=list)
    #: Left out on purpose: it would hang or spoil its unit (LEFT_OUT).
    left_out: list[str] = field(default_factory=list)
    #: Left out by runtest itself: denied tags, external mode, singledb.
    ignored: list[str] = field(default_factory=list)
    #: Set when the unit stopped on an error outside a test (its remaining tests never ran).
    aborted: str | None = None

    def summary(self) -> str:
        known = sum(name in KNOWN_DIFFERENCES for name in self.failed)
        return (
            f"{self.unit}: {len(self.passed)} passed, {len(self.failed)} failed"
            + (f" ({known} known difference{'s' if known > 1 else ''})" if known else "")
            + ", "
            f"{len(self.skipped)} skipped (needs another data type), "
            + (f"{len(self.left_out)} left out (would stall the unit), " if self.left_out else "")
            + f"{len(self.ignored)} ignored by runtest"
            + (f", ABORTED: {self.aborted}" if self.aborted else "")
        )


def parse_runtest_output(unit: str, text: str) -> UnitResult:
    """Sort the status lines runtest prints (``[ok]: name (3 ms)``, ``[err]: name in file`` and
    its detail lines, ``[skip]: name``, ``[ignore]: name: reason``, ``[exception]: ...``)."""
    result = UnitResult(unit)
    last_failed: str | None = None
    details_done = False
    for raw in text.splitlines():
        line = _ANSI.sub("", raw)
        match = _STATUS.match(line)
        if match is None:
            if last_failed is not None and line.strip():
                # runtest cuts the first ten characters off an error that is not an assertion;
                # the next line is then the whole of it.
                shown = result.failed[last_failed]
                if not shown or (line.strip().endswith(shown) and not details_done):
                    result.failed[last_failed] = line.strip()
                details_done = bool(shown)
            continue
        details_done = False
        status, rest = match.groups()
        last_failed = None
        if status == "ok":
            ok = _OK_NAME.match(rest)
            result.passed.append(ok.group(1) if ok else rest)
        elif status == "err":
            err = _ERR_NAME.match(rest)
            last_failed = err.group(1) if err else rest
            result.failed[last_failed] = ""
        elif status == "skip":
            (result.left_out if rest in LEFT_OUT else result.skipped).append(rest)
        elif status == "ignore":
            result.ignored.append(rest)
        else:
            result.aborted = rest
    return result


def skip_names(path: Path = SKIPS) -> list[str]:
    """The test names in the skip list (blank lines and ``#`` comments left out)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_server_baseport() -> int:
    """A ``--baseport`` for runtest: its own test server listens on ``baseport - 32`` (and
    checks ``+ 10000``). The default, 21111, collides with any other runtest on the machine."""
    for _attempt in range(100):
        port = random.randrange(20_000, 50_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port + 32
    raise RuntimeError("no free port for runtest's test server")


def _start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start the server; return it once it listens, or ended, with what it logged so far."""
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    listening = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if "listening on" in line:
                listening.set()
        listening.set()  # the process ended: stop waiting

    threading.Thread(target=pump, daemon=True).start()
    listening.wait(START_TIMEOUT)
    return proc, "".join(log)


@contextmanager
def kvstore_server(extra: Sequence[str], data_dir: str) -> Iterator[int]:
    """A ./server from this checkout, listening on a free loopback port; stopped by its PID."""
    for _attempt in range(5):
        port = free_port()
        command = [sys.executable, str(SERVER), "--port", str(port), "--dir", data_dir]
        proc, log = _start([*command, *SERVER_FLAGS, *extra])
        if proc.poll() is None and "listening on" in log:
            try:
                yield port
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            return
        proc.kill()
        proc.wait()
        if "address already in use" not in log.lower():
            raise RuntimeError("kvstore did not start:\n" + log)
    raise RuntimeError("kvstore found no free port")


def run_unit(redis_src: Path, port: int, unit: str, skipfile: Path, timeout: int) -> UnitResult:
    """One unit through runtest against the server on ``port``."""
    command = ["tclsh", "tests/test_helper.tcl", "--host", "127.0.0.1", "--port", str(port)]
    command += [*RUNTEST_FLAGS, "--skipfile", str(skipfile), "--timeout", str(timeout)]
    command += ["--baseport", str(test_server_baseport()), "--single", unit]
    done = subprocess.run(
        command,
        cwd=redis_src,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout * 4,
        check=False,
    )
    result = parse_runtest_output(unit, done.stdout + done.stderr)
    ran = result.passed or result.failed or result.skipped or result.ignored
    if result.aborted is None and (not ran or (done.returncode and not result.failed)):
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        result.aborted = f"runtest ended early (exit {done.returncode}): {tail}"
    return result


def run_suite(
    redis_src: Path, units: Sequence[str], server_args: Sequence[str] = (), timeout: int = 120
) -> list[UnitResult]:
    """Every unit of ``units``, each against a kvstore server started for it (as runtest
    starts a Redis for each unit): what one unit leaves behind, a setting a failed test did not
    restore, cannot fail the next."""
    if shutil.which("tclsh") is None:
        raise RuntimeError("tclsh is not installed (Debian: apt-get install tcl)")
    if not (redis_src / "tests" / "test_helper.tcl").is_file():
        raise RuntimeError(f"{redis_src} is not a Redis source tree (no tests/test_helper.tcl)")
    with tempfile.TemporaryDirectory(prefix="kvstore-redis-suite-") as scratch:
        skipfile = Path(scratch) / "skips.txt"
        skipfile.write_text("\n".join([*skip_names(), *LEFT_OUT]) + "\n", encoding="utf-8")
        results = []
        for number, unit in enumerate(units):
            with kvstore_server(server_args, os.path.join(scratch, f"data{number}")) as port:
                results.append(run_unit(redis_src, port, unit, skipfile, timeout))
        return results


def report(results: Sequence[UnitResult]) -> str:
    lines = []
    for result in results:
        lines.append(result.summary())
        for name in result.left_out:
            lines.append(f"  left out: {name}: {LEFT_OUT[name]}")
        for name, why in result.failed.items():
            known = KNOWN_DIFFERENCES.get(name)
            lines.append(f"  failed: {name}: " + (f"known difference, {known}" if known else why))
    return "\n".join(lines)


def unexpected(results: Sequence[UnitResult]) -> bool:
    """Whether any unit stopped early or had a failure docs/compatibility.md does not explain."""
    return any(r.aborted or set(r.failed) - set(KNOWN_DIFFERENCES) for r in results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/redis-test-suite",
        description="Run Redis's Tcl test suite (external-server mode) against kvstore.",
    )
    parser.add_argument("redis_src", type=Path, help="a Redis source tree (7.0.15)")
    parser.add_argument(
        "units", nargs="*", help="units to run, e.g. type/string or unit/expire (default: all ours)"
    )
    parser.add_argument("--pure", action="store_true", help="run the pure-Python build")
    parser.add_argument("--timeout", type=int, default=120, help="seconds without progress")
    args = parser.parse_args(argv)
    units = [u if u.startswith("unit/") else f"unit/{u}" for u in args.units] or DEFAULT_UNITS
    extra = ["--pure"] if args.pure else []
    results = run_suite(args.redis_src.resolve(), units, extra, args.timeout)
    print(report(results))
    return 1 if unexpected(results) else 0


if __name__ == "__main__":
    sys.exit(main())
