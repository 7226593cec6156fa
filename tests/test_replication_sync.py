"""Replicas follow a primary: the full copy, the live stream, REPLICAOF at run time, ROLE,
INFO replication, read-only replicas, expiry by the primary's DELs (real processes)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from conftest import VARIANTS, ServerProcess, start_server
from replication_support import (
    client,
    command,
    contents,
    info,
    link_up,
    offset,
    start_replica,
    stat,
    wait_acked,
    wait_caught_up,
    wait_until,
)


@pytest.fixture(params=sorted(VARIANTS))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    primary = start_server(*VARIANTS[request.param])
    replica = start_replica(primary, *VARIANTS[request.param])
    yield primary, replica
    replica.stop()
    primary.stop()


def test_a_replica_gets_every_kind_of_write(pair: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = pair
    writer = client(primary)
    writer.set("plain", "1")
    writer.set("volatile", "2", ex=1000)
    writer.mset({f"k{i}": str(i) for i in range(100)})
    writer.incr("counter")
    writer.append("plain", "x")
    writer.delete("k0", "k1")
    client(primary, 3).set("in3", "three")
    client(primary, 5).set("in5", "five")
    writer.move("k2", 4)
    writer.swapdb(3, 6)
    client(primary, 5).flushdb()
    writer.rename("k3", "renamed")
    wait_caught_up(primary, replica)
    assert contents(replica, 16) == contents(primary, 16)
    deadline = command(primary, "PEXPIRETIME", "volatile")
    assert deadline > 0
    assert command(replica, "PEXPIRETIME", "volatile") == deadline  # the same absolute time
    assert client(replica, 6).get("in3") == b"three"


def test_info_and_role_on_both_sides(pair: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = pair
    client(primary).set("k", "v")
    wait_caught_up(primary, replica)
    wait_acked(primary, 1)
    on_primary, on_replica = info(primary), info(replica)
    assert on_primary["role"] == "master"
    assert on_primary["connected_slaves"] == "1"
    assert on_primary["slave0"].startswith(f"ip=127.0.0.1,port={replica.port},state=online,")
    assert on_replica["role"] == "slave"
    assert on_replica["master_host"] == "127.0.0.1"
    assert on_replica["master_port"] == str(primary.port)
    assert on_replica["master_sync_in_progress"] == "0"
    assert on_replica["master_replid"] == on_primary["master_replid"]
    assert on_replica["slave_repl_offset"] == on_primary["master_repl_offset"]
    assert on_primary["repl_backlog_active"] == "1"
    assert int(on_primary["repl_backlog_histlen"]) == offset(primary)
    assert stat(primary, "sync_full") == 1
    role = command(primary, "ROLE")
    assert role[0] == b"master"
    assert role[1] == offset(primary)
    assert role[2] == [[b"127.0.0.1", str(replica.port).encode(), str(offset(primary)).encode()]]
    role = command(replica, "ROLE")
    assert role == [b"slave", b"127.0.0.1", primary.port, b"connected", offset(primary)]


def test_writes_are_refused_on_a_replica(pair: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = pair
    client(primary).set("k", "v")
    wait_caught_up(primary, replica)
    reader = client(replica)
    with pytest.raises(redis.ReadOnlyError, match="You can't write against a read only replica"):
        reader.set("k", "other")
    with pytest.raises(redis.ReadOnlyError):
        reader.flushall()
    assert reader.get("k") == b"v"
    reader.config_set("replica-read-only", "no")
    reader.set("local", "1")  # a writable replica writes locally, as Redis
    assert reader.get("local") == b"1"


def test_replicaof_at_run_time_then_no_one() -> None:
    primary = start_server(*VARIANTS["fast"])
    other = start_server(*VARIANTS["fast"])
    try:
        client(primary).set("from-primary", "1")
        client(other).set("own", "1")
        old_id = info(other)["master_replid"]
        assert command(other, "REPLICAOF", "127.0.0.1", primary.port) == b"OK"
        wait_until(lambda: link_up(other), "the link to come up")
        wait_caught_up(primary, other)
        assert contents(other) == {(0, b"from-primary"): b"1"}  # its own data is replaced
        assert command(other, "SLAVEOF", "no", "one") == b"OK"
        fields = info(other)
        assert fields["role"] == "master"
        assert fields["master_replid2"] == info(primary)["master_replid"]
        assert fields["master_replid"] not in (old_id, fields["master_replid2"])
        assert int(fields["second_repl_offset"]) == offset(primary) + 1
        client(other).set("after", "1")
        assert client(other).get("after") == b"1"
    finally:
        other.stop()
        primary.stop()


def test_writes_during_the_copy_arrive_after_it() -> None:
    primary = start_server(*VARIANTS["fast"])
    try:
        pipe = client(primary).pipeline(transaction=False)
        for batch in range(100):
            pipe.mset({f"before:{batch}:{i}": "x" * 20 for i in range(1000)})
        pipe.execute()
        stop = threading.Event()
        written = [0]

        def write() -> None:
            writer = client(primary)
            while not stop.is_set():
                writer.set(f"during:{written[0]}", written[0])
                written[0] += 1

        thread = threading.Thread(target=write)
        thread.start()
        replica = start_replica(primary, *VARIANTS["fast"])
        try:
            wait_until(lambda: link_up(replica), "the replica to load its copy")
            wait_until(lambda: written[0] > 100, "writes after the copy")
            stop.set()
            thread.join()
            wait_caught_up(primary, replica)
            assert client(replica).dbsize() == 100_000 + written[0]
            assert contents(replica) == contents(primary)
        finally:
            stop.set()
            replica.stop()
    finally:
        primary.stop()


def read_until(sock: socket.socket, marker: bytes, timeout: float = 30.0) -> bytes:
    """What ``sock`` receives until ``marker`` is in it (fails after ``timeout`` seconds)."""
    received = b""
    deadline = time.monotonic() + timeout
    while marker not in received:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"{marker!r} never came; got {received[-300:]!r}") from None
        assert chunk, f"the connection closed before {marker!r}"
        received += chunk
    return received


def test_expiries_reach_a_replica_as_dels(pair: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = pair
    client(primary).set("kept", "v")
    wait_caught_up(primary, replica)
    with primary.connect() as sock:  # a replica of our own, reading the stream as it comes
        sock.sendall(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
        read_until(sock, b"KVSNAP")
        client(primary).set("short", "v", px=50)
        read_until(sock, b"*2\r\n$3\r\nDEL\r\n$5\r\nshort\r\n")
    wait_until(lambda: client(replica).dbsize() == 1, "the primary's DEL at the replica")
    assert client(replica).get("kept") == b"v"


def test_reads_on_a_replica_hide_expired_keys(pair: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = pair
    deadline_ms = int(time.time() * 1000) + 300
    client(primary).set("short", "v", pxat=deadline_ms)
    wait_caught_up(primary, replica)
    primary.proc.send_signal(signal.SIGSTOP)  # no DEL can come now
    try:
        wait_until(lambda: time.time() * 1000 > deadline_ms + 10, "the deadline to pass")
        assert client(replica).get("short") is None
        assert client(replica).exists("short") == 0
    finally:
        primary.proc.send_signal(signal.SIGCONT)


def _fill_until(writer: redis.Redis, done: Callable[[], bool], what: str) -> None:
    """Write batches of 200-byte values until ``done()``; fail after 200,000 keys."""
    for batch in range(800):
        if done():
            return
        pipe = writer.pipeline(transaction=False)
        for i in range(250):
            pipe.set(b"k%d-%d" % (batch, i), b"v" * 200)
        pipe.execute()
    raise AssertionError(f"200,000 keys written and still not {what}")


@pytest.mark.parametrize("persist", [True, False], ids=["log", "no-persist"])
def test_evictions_reach_a_replica_as_dels(persist: bool) -> None:
    # The log's journal records the keys evicted to make room; without persistence the
    # journal comes with the first replica, and the evictions must reach it all the same.
    options = ("--maxmemory", "1gb", "--maxmemory-policy", "allkeys-random")
    primary = start_server(*VARIANTS["fast"], *options, *(() if persist else ("--no-persist",)))
    replica = start_replica(primary, *VARIANTS["fast"])
    try:
        wait_caught_up(primary, replica)
        writer = client(primary)
        # The limit counts the whole process (its size at start, then the keys and the
        # clients' buffers): a little room above its size now, so that writing goes past it.
        resident = int(info(primary, "memory")["used_memory_rss"])
        writer.config_set("maxmemory", resident + 1_000_000)
        _fill_until(writer, lambda: stat(primary, "evicted_keys") > 0, "evicting")
        wait_caught_up(primary, replica)
        assert contents(replica) == contents(primary)
    finally:
        replica.stop()
        primary.stop()


def test_a_replica_applies_its_primarys_writes_whatever_its_own_memory_limit() -> None:
    primary = start_server(*VARIANTS["fast"])
    replica = start_replica(primary, *VARIANTS["fast"], "--maxmemory", "1gb")
    try:
        wait_caught_up(primary, replica)
        limit = int(info(replica, "memory")["used_memory_rss"]) + 1_000_000
        client(replica).config_set("maxmemory", limit)
        writer = client(primary)

        def replica_keys_past_its_limit() -> bool:
            wait_caught_up(primary, replica)
            # The keys alone (INFO's used_memory) past the limit: the replica is surely over.
            return int(info(replica, "memory")["used_memory"]) > limit

        _fill_until(writer, replica_keys_past_its_limit, "past the replica's limit")
        assert contents(replica) == contents(primary)
        assert stat(replica, "evicted_keys") == 0
    finally:
        replica.stop()
        primary.stop()
