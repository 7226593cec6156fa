"""Replication figures: a replica's lag under redis-benchmark SET load, a primary's throughput
with one replica attached as a ratio of without, WAIT 1 0's latency, and the time a full copy
of a million keys takes, against Redis's.

    .venv/bin/python -m benchmarks.replication [--keys 1000000] [--requests 200000]
        [--waits 2000] [--output docs/benchmarks/replication.json]

Every server runs on loopback with persistence on (kvstore: its log with ``everysec``; Redis:
its defaults), in a temporary directory of its own. On a shared machine the figures move
with the load: the JSON keeps the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import machine, redis_benchmark, wire
from benchmarks.servers import PortTakenError, Server, cpu_seconds, free_port, kvstore_command

START_ATTEMPTS = 5
SYNC_TIMEOUT = 1800.0


def _argv(kind: str, port: int, directory: Path, extra: list[str]) -> list[str]:
    if kind == "redis":
        return [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(directory), "--daemonize", "no", "--save", "", *extra,
        ]  # fmt: skip
    return [*kvstore_command(), "--port", str(port), "--dir", str(directory), *extra]


@contextmanager
def running(kind: str, *extra: str) -> Iterator[Server]:
    """A server of ``kind`` ("kvstore" or "redis") on a free port, stopped and deleted after."""
    for attempt in range(1, START_ATTEMPTS + 1):
        directory = Path(tempfile.mkdtemp(prefix=f"kvstore-bench-repl-{kind}-"))
        port = free_port()
        server = Server(kind, _argv(kind, port, directory, list(extra)), directory, port)
        try:
            server.start()
        except PortTakenError:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)
            if attempt == START_ATTEMPTS:
                raise
            continue
        try:
            yield server
        finally:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)
        return


def replication_info(port: int) -> dict[str, str]:
    with wire.connect(port, timeout=60.0) as sock:
        reply = wire.call(sock, "INFO", "replication")
    assert isinstance(reply, bytes)
    fields = {}
    for line in reply.decode().splitlines():
        name, _, value = line.partition(":")
        if value:
            fields[name] = value
    return fields


def wait_for(check: Callable[[], bool], timeout: float = SYNC_TIMEOUT) -> float:
    """Seconds until ``check()`` held."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.005)
    return time.monotonic() - started


def in_step(primary: Server, replica: Server) -> bool:
    theirs, ours = replication_info(primary.port), replication_info(replica.port)
    return (
        ours.get("master_link_status") == "up"
        and ours["master_repl_offset"] == theirs["master_repl_offset"]
    )


def follow(replica: Server, primary: Server) -> None:
    with wire.connect(replica.port) as sock:
        wire.call(sock, "REPLICAOF", "127.0.0.1", primary.port)


def load(server: Server, keys: int) -> None:
    wire.load(server.port, list(wire.set_commands(keys, 16)), keys)


def lag_bytes(primary: Server, replica: Server) -> int:
    """The stream written by the primary but not yet applied by the replica (read one after
    the other: the replica's offset is read last, so this never overstates the lag by more
    than what was applied in between)."""
    written = int(replication_info(primary.port)["master_repl_offset"])
    applied = int(replication_info(replica.port)["master_repl_offset"])
    return max(written - applied, 0)


def throughput_and_lag(requests: int) -> dict[str, Any]:
    workload = redis_benchmark.Workload(("SET",), requests, 50, 1, 16, 100_000)
    with running("kvstore") as primary:
        cpu = cpu_seconds(primary.pid)
        alone = redis_benchmark.run(primary.port, workload)["SET"].rps
        cpu_alone = cpu_seconds(primary.pid) - cpu
        with running("kvstore") as replica:
            follow(replica, primary)
            wait_for(lambda: in_step(primary, replica))
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    samples.append(lag_bytes(primary, replica))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            cpu = cpu_seconds(primary.pid)
            try:
                attached = redis_benchmark.run(primary.port, workload)["SET"].rps
            finally:
                done.set()
                sampler.join()
            catch_up = wait_for(lambda: in_step(primary, replica))
            cpu_attached = cpu_seconds(primary.pid) - cpu
    return {
        "set_rps_alone": alone,
        "set_rps_with_replica": attached,
        "ratio": attached / alone,
        # The primary's own cost, apart from the CPU the replica takes on a shared machine
        # (the INFO samples taken meanwhile included).
        "primary_cpu_us_per_set_alone": 1e6 * cpu_alone / requests,
        "primary_cpu_us_per_set_with_replica": 1e6 * cpu_attached / requests,
        "lag_bytes_median": statistics.median(samples) if samples else 0,
        "lag_bytes_max": max(samples, default=0),
        "lag_samples": len(samples),
        "catch_up_seconds_after_load": catch_up,
    }


def wait_latency(count: int) -> dict[str, Any]:
    with running("kvstore") as primary, running("kvstore") as replica:
        follow(replica, primary)
        wait_for(lambda: in_step(primary, replica))
        timings = []
        with wire.connect(primary.port) as sock:
            for n in range(count):
                wire.call(sock, "SET", "k", n)
                started = time.perf_counter()
                acked = wire.call(sock, "WAIT", 1, 0)
                timings.append(time.perf_counter() - started)
                assert acked == 1
    timings.sort()
    return {
        "waits": count,
        "p50_ms": 1000 * timings[len(timings) // 2],
        "p99_ms": 1000 * timings[int(len(timings) * 0.99)],
        "max_ms": 1000 * timings[-1],
    }


def full_copy(kind: str, keys: int) -> float:
    # Redis waits 5 s by default before a diskless copy, for more replicas to share it.
    extra = ("--repl-diskless-sync-delay", "0") if kind == "redis" else ()
    with running(kind, *extra) as primary, running(kind) as replica:
        load(primary, keys)
        started = time.monotonic()
        follow(replica, primary)
        wait_for(lambda: in_step(primary, replica))
        return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys in the full copy")
    parser.add_argument("--requests", type=int, default=200_000, help="SETs per benchmark run")
    parser.add_argument("--waits", type=int, default=2000, help="WAIT 1 0 rounds")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"machine": machine.machine()}
    figures["throughput_and_lag"] = throughput_and_lag(args.requests)
    figures["wait_1_0"] = wait_latency(args.waits)
    copies = {kind: full_copy(kind, args.keys) for kind in ("kvstore", "redis")}
    figures["full_copy"] = {
        "keys": args.keys,
        "kvstore_seconds": copies["kvstore"],
        "redis_seconds": copies["redis"],
        "ratio": copies["kvstore"] / copies["redis"],
    }
    figures["load_average_after"] = machine.load_average()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
