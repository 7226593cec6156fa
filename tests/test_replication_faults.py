"""Replication under load and under SIGKILL: a million keys copied while writes go on, a
primary killed during a full copy and a replica killed mid-stream (then both converge), and a
randomized run compared key by key once the load stops (real processes)."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from conftest import VARIANTS, ServerProcess, start_server
from replication_support import (
    client,
    contents,
    info,
    link_up,
    start_replica,
    wait_caught_up,
    wait_until,
)

FAST = VARIANTS["fast"]


class Writer:
    """Writes on a thread until stopped: ``write(connection, n)`` for n = 0, 1, 2..."""

    def __init__(self, server: ServerProcess, write: Callable[..., object]) -> None:
        self.server = server
        self.write = write
        self.count = 0
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        connection = client(self.server)
        try:
            while not self._stop.is_set():
                self.write(connection, self.count)
                self.count += 1
        except Exception as exc:
            self.errors.append(exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def fill(server: ServerProcess, keys: int, prefix: str = "k", value: str = "v" * 16) -> None:
    """``keys`` keys, written in pipelined MSETs of a thousand."""
    pipe = client(server).pipeline(transaction=False)
    for start in range(0, keys, 1000):
        pipe.mset({f"{prefix}:{i}": value for i in range(start, min(start + 1000, keys))})
        if start % 100_000 == 0:
            pipe.execute()
    pipe.execute()


@pytest.mark.timeout(900)
def test_a_replica_catches_up_with_a_million_keys_written_before_and_during_its_copy() -> None:
    primary = start_server(*FAST)
    try:
        fill(primary, 1_000_000)
        assert client(primary).dbsize() == 1_000_000

        def write(connection: object, n: int) -> None:
            client_ = connection
            client_.mset({f"during:{n}:{i}": str(n) for i in range(100)})  # type: ignore[attr-defined]

        with Writer(primary, write) as writer:
            replica = start_replica(primary, *FAST)
            try:
                wait_until(lambda: link_up(replica), "the copy to load")
                wait_until(lambda: writer.count > 50, "writes after the copy")
                writer.stop()
                assert writer.errors == []
                wait_caught_up(primary, replica)
                assert client(replica).dbsize() == 1_000_000 + 100 * writer.count
                assert contents(replica) == contents(primary)
            finally:
                replica.stop()
    finally:
        primary.stop()


def _write_one(connection: object, n: int) -> None:
    connection.set(f"w:{n % 5000}", n)  # type: ignore[attr-defined]


@pytest.mark.timeout(300)
def test_primary_killed_during_a_full_copy_then_both_converge(tmp_path: Path) -> None:
    primary = start_server(*FAST, "--dir", str(tmp_path))
    port = primary.port
    fill(primary, 200_000)
    replica = start_replica(primary, *FAST)
    try:
        primary.wait_for_log("writing a snapshot at offset")
        primary.proc.kill()
        primary.finish_log()
        primary = start_server(*FAST, "--dir", str(tmp_path), port=port)
        replica.wait_for_log("replication link to")
        with Writer(primary, _write_one) as writer:
            wait_until(lambda: link_up(replica), "the replica to copy the restarted primary")
            wait_until(lambda: writer.count > 100, "writes after the copy")
        assert writer.errors == []
        wait_caught_up(primary, replica)
        assert client(primary).dbsize() == 200_000 + min(writer.count, 5000)
        assert contents(replica) == contents(primary)
    finally:
        replica.stop()
        primary.stop()


@pytest.mark.timeout(300)
def test_replica_killed_mid_stream_then_both_converge(tmp_path: Path) -> None:
    primary = start_server(*FAST)
    fill(primary, 20_000)
    replica_args = (*FAST, "--dir", str(tmp_path), "--replicaof", f"127.0.0.1 {primary.port}")
    replica = start_server(*replica_args)
    try:
        with Writer(primary, _write_one) as writer:
            wait_until(lambda: link_up(replica), "the link")
            seen = writer.count
            wait_until(lambda: writer.count > seen + 200, "writes streaming")
            replica.proc.kill()
            replica.finish_log()
            replica = start_server(*replica_args)
            seen = writer.count
            wait_until(lambda: writer.count > seen + 200, "writes while it restarts")
        assert writer.errors == []
        wait_caught_up(primary, replica)
        assert contents(replica) == contents(primary)
    finally:
        replica.stop()
        primary.stop()


def _random_op(rng: random.Random, connection: object, n: int) -> None:
    """One random write: the commands whose effects the stream carries, across databases."""
    c = connection
    key = f"r:{rng.randrange(300)}"
    other = f"r:{rng.randrange(300)}"
    choice = rng.randrange(14)
    if choice == 0:
        c.set(key, rng.randbytes(rng.randrange(1, 64)))  # type: ignore[attr-defined]
    elif choice == 1:
        c.delete(key, other)  # type: ignore[attr-defined]
    elif choice == 2:
        c.incrby(f"n:{rng.randrange(20)}", rng.randrange(-5, 6))  # type: ignore[attr-defined]
    elif choice == 3:
        c.append(key, "+")  # type: ignore[attr-defined]
    elif choice == 4:
        c.expire(key, rng.randrange(100, 1000))  # type: ignore[attr-defined]
    elif choice == 5:
        c.set(key, "short", px=rng.randrange(1, 30))  # type: ignore[attr-defined]
    elif choice == 6:
        c.persist(key)  # type: ignore[attr-defined]
    elif choice == 7:
        c.mset({key: "m", other: "m"})  # type: ignore[attr-defined]
    elif choice == 8:
        with contextlib.suppress(redis.ResponseError):  # another writer deleted it first
            c.rename(key, other)  # type: ignore[attr-defined]
    elif choice == 9:
        c.execute_command("SELECT", rng.randrange(4))  # type: ignore[attr-defined]
        c.set(key, "in-a-db")  # type: ignore[attr-defined]
        c.execute_command("SELECT", 0)  # type: ignore[attr-defined]
    elif choice == 10:
        c.move(key, rng.randrange(1, 4))  # type: ignore[attr-defined]
    elif choice == 11 and n % 50 == 0:
        c.swapdb(rng.randrange(4), rng.randrange(4))  # type: ignore[attr-defined]
    elif choice == 12 and n % 200 == 0:
        c.execute_command("FLUSHDB")  # type: ignore[attr-defined]
    else:
        c.getset(key, str(n))  # type: ignore[attr-defined]


def _short_lived(server: ServerProcess) -> bool:
    """Whether a key in databases 0-3 has less than a second to live."""
    for db in range(4):
        connection = client(server, db)
        for key in connection.scan_iter(count=1000):
            if 0 <= connection.pttl(key) < 1000:
                return True
    return False


@pytest.mark.timeout(300)
def test_randomized_writes_leave_primary_and_replicas_equal() -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    primary = start_server(*FAST)
    first = start_replica(primary, *FAST)
    second = start_replica(primary, *VARIANTS["pure"], "--no-persist")
    chained = start_replica(first, *FAST, "--no-persist")
    try:
        writers = []
        for index in range(3):
            rng = random.Random(seed + index)
            writers.append(Writer(primary, lambda c, n, rng=rng: _random_op(rng, c, n)).__enter__())
        wait_until(lambda: all(w.count > 500 or w.errors for w in writers), "random writes")
        for writer in writers:
            writer.stop()
            assert writer.errors == []
        # Keys set with a few milliseconds to live must be gone first, or one side may read
        # them alive and the other not (reading them on the primary expires them: DELs).
        wait_until(lambda: not _short_lived(primary), "short-lived keys to expire")
        wait_caught_up(primary, first, second, chained)
        expected = contents(primary, 4)
        assert expected, "the run wrote nothing"
        for replica in (first, second, chained):
            assert contents(replica, 4) == expected, f"seed {seed}: {replica.address} differs"
        assert info(chained)["master_replid"] == info(primary)["master_replid"]
    finally:
        for node in (chained, second, first, primary):
            node.stop()
