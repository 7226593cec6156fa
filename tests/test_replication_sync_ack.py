"""Synchronous acknowledgement (``sync-replicas``): a primary holds a write's reply until a
named replica acknowledged it (real processes; the replica stopped with SIGSTOP)."""

from __future__ import annotations

import select
import signal
import socket
from collections.abc import Iterator

import pytest

from conftest import VARIANTS, ServerProcess, start_server
from replication_support import command, info, start_replica, wait_caught_up, wait_until

FAST = VARIANTS["fast"]


def _request(*words: str) -> bytes:
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_replies(sock: socket.socket, count: int) -> bytes:
    replies = b""
    while replies.count(b"\r\n") < count:
        data = sock.recv(4096)
        assert data, f"connection closed after {replies!r}"
        replies += data
    return replies


def _calls(server: ServerProcess, name: str) -> int:
    line = info(server, "commandstats").get(f"cmdstat_{name}", "calls=0")
    return int(line.split(",")[0].partition("=")[2])


def _wait_calls(server: ServerProcess, name: str, calls: int) -> None:
    wait_until(lambda: _calls(server, name) >= calls, f"{calls} {name} run")


def _nothing_to_read(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def _replica_name(replica: ServerProcess) -> str:
    return f"{replica.host}:{replica.port}"


@pytest.fixture
def nodes() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    primary = start_server(*FAST)
    replica = start_replica(primary, *FAST)
    try:
        wait_caught_up(primary, replica)
        yield primary, replica
    finally:
        replica.proc.send_signal(signal.SIGCONT)  # a test that failed with it stopped
        replica.stop()
        primary.stop()


def test_a_write_is_answered_only_once_the_named_replica_acknowledged_it(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    primary, replica = nodes
    assert command(primary, "CONFIG", "SET", "sync-replicas", _replica_name(replica)) == b"OK"
    assert command(primary, "CONFIG", "GET", "sync-replicas") == [
        b"sync-replicas",
        _replica_name(replica).encode(),
    ]
    with primary.connect() as writer:
        writer.sendall(_request("SET", "k", "v"))
        assert _read_replies(writer, 1) == b"+OK\r\n"  # the replica answers GETACK at once
        replica.proc.send_signal(signal.SIGSTOP)
        writer.sendall(_request("SET", "k", "w"))
        _wait_calls(primary, "set", 2)  # run: its reply is what waits
        assert command(primary, "PING") == b"PONG"  # other connections are served meanwhile
        assert _nothing_to_read(writer)
        replica.proc.send_signal(signal.SIGCONT)
        assert _read_replies(writer, 1) == b"+OK\r\n"
    assert command(replica, "GET", "k") == b"w"


def test_replies_pipelined_behind_a_held_write_keep_their_order(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    primary, replica = nodes
    command(primary, "CONFIG", "SET", "sync-replicas", _replica_name(replica))
    replica.proc.send_signal(signal.SIGSTOP)
    with primary.connect() as writer:
        writer.sendall(_request("GET", "n") + _request("INCR", "n") + _request("GET", "n"))
        _wait_calls(primary, "incr", 1)
        assert _nothing_to_read(writer)  # the GET before the write waits with it
        writer.sendall(_request("INCR", "n") + _request("PING"))  # run after the release
        assert _nothing_to_read(writer)
        replica.proc.send_signal(signal.SIGCONT)
        assert _read_replies(writer, 6) == b"$-1\r\n:1\r\n$1\r\n1\r\n:2\r\n+PONG\r\n"


@pytest.mark.parametrize(
    ("requests", "last", "replies"),
    [
        ([("SET", "k", "v")], "set", b"+OK\r\n"),
        ([("MULTI",), ("INCR", "n"), ("EXEC",)], "exec", b"+OK\r\n+QUEUED\r\n*1\r\n:1\r\n"),
        ([("APPEND", "s", "a"), ("GETDEL", "s")], "getdel", b":1\r\n$1\r\na\r\n"),
    ],
)
def test_every_kind_of_write_is_held(
    nodes: tuple[ServerProcess, ServerProcess],
    requests: list[tuple[str, ...]],
    last: str,
    replies: bytes,
) -> None:
    primary, replica = nodes
    command(primary, "CONFIG", "SET", "sync-replicas", _replica_name(replica))
    replica.proc.send_signal(signal.SIGSTOP)
    with primary.connect() as writer:
        writer.sendall(b"".join(_request(*words) for words in requests))
        _wait_calls(primary, last, 1)
        assert _nothing_to_read(writer)
        replica.proc.send_signal(signal.SIGCONT)
        assert _read_replies(writer, replies.count(b"\r\n")) == replies


def test_large_replies_after_a_write_wait_with_it(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    primary, replica = nodes
    big = "x" * (1024 * 1024 + 1)  # past the size at which a read's replies are written early
    command(primary, "SET", "big", big)
    command(primary, "CONFIG", "SET", "sync-replicas", _replica_name(replica))
    replica.proc.send_signal(signal.SIGSTOP)
    with primary.connect() as writer:
        writer.sendall(_request("SET", "k", "v") + _request("GET", "big") + _request("GET", "k"))
        wait_until(lambda: _calls(primary, "get") >= 2, "both GETs run")
        assert _nothing_to_read(writer)
        replica.proc.send_signal(signal.SIGCONT)
        expected = b"+OK\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(big), big.encode())
        assert _read_replies(writer, 5) == expected


def test_reads_alone_are_not_held(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = nodes
    command(primary, "SET", "k", "v")
    command(primary, "CONFIG", "SET", "sync-replicas", _replica_name(replica))
    replica.proc.send_signal(signal.SIGSTOP)
    with primary.connect() as reader:
        reader.sendall(_request("GET", "k") + _request("DEL", "missing"))
        assert _read_replies(reader, 2) == b"$1\r\nv\r\n:0\r\n"  # a write that changed nothing


def test_switching_off_releases_held_replies(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    primary, replica = nodes
    command(primary, "CONFIG", "SET", "sync-replicas", _replica_name(replica))
    replica.proc.send_signal(signal.SIGSTOP)
    with primary.connect() as writer:
        writer.sendall(_request("SET", "k", "v") + _request("MULTI"))
        writer.sendall(_request("SET", "j", "v") + _request("EXEC"))
        _wait_calls(primary, "set", 1)
        assert _nothing_to_read(writer)
        assert command(primary, "CONFIG", "SET", "sync-replicas", "") == b"OK"
        assert _read_replies(writer, 5) == b"+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n"


def test_a_replica_not_named_does_not_release_a_write(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    primary, replica = nodes
    command(primary, "CONFIG", "SET", "sync-replicas", "127.0.0.1:1 some-node-id")
    with primary.connect() as writer:
        writer.sendall(_request("SET", "k", "v"))
        _wait_calls(primary, "set", 1)
        wait_until(lambda: command(replica, "GET", "k") == b"v", "the replica to hold k")
        command(primary, "WAIT", 1, 0)  # the replica acknowledged the write
        assert _nothing_to_read(writer)
        # Naming the replica checks the held reply again at once.
        command(primary, "CONFIG", "SET", "sync-replicas", f"127.0.0.1:1,{_replica_name(replica)}")
        assert _read_replies(writer, 1) == b"+OK\r\n"


def test_the_setting_holds_writes_from_the_start() -> None:
    primary = start_server(*FAST, "--sync-replicas", "127.0.0.1:1", "--no-persist")
    try:
        with primary.connect() as writer:
            writer.sendall(_request("SET", "k", "v"))
            _wait_calls(primary, "set", 1)
            assert _nothing_to_read(writer)
            assert info(primary)["connected_slaves"] == "0"  # INFO is Redis's, unchanged
    finally:
        primary.stop()
