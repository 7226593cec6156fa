"""WAIT, the replicas' acknowledgements (REPLCONF ACK and GETACK), min-replicas-to-write and
replica-serve-stale-data (real processes)."""

from __future__ import annotations

import socket

import pytest
import redis

import kvstore
from conftest import VARIANTS, ServerProcess, closed_port, start_server
from replication_support import (
    client,
    command,
    link_up,
    start_replica,
    wait_acked,
    wait_caught_up,
    wait_until,
)

FAST = VARIANTS["fast"]


def test_wait_counts_the_replicas_that_hold_the_writes() -> None:
    primary = start_server(*FAST)
    replicas = [start_replica(primary, *FAST) for _ in range(2)]
    try:
        wait_caught_up(primary, *replicas)
        writer = client(primary)
        writer.set("k", "v")
        # GETACK makes the replicas answer at once: no waiting for their next ACK.
        assert command(primary, "WAIT", 2, 0) == 2
        writer.set("k", "w")
        assert command(primary, "WAIT", 1, 0) >= 1  # the second may not have answered yet
        assert command(primary, "WAIT", 2, 0) == 2
        assert command(primary, "WAIT", 0, 0) == 2  # nothing new: both hold it, at once
        # Asking for more replicas than there are waits out the timeout, then counts (both
        # hold everything already: WAIT 2 0 saw to it).
        writer.set("k", "x")
        assert command(primary, "WAIT", 2, 0) == 2
        assert command(primary, "WAIT", 3, 50) == 2
    finally:
        for replica in replicas:
            replica.stop()
        primary.stop()


def test_wait_pipelined_after_a_write_waits_for_that_write() -> None:
    primary = start_server(*FAST)
    replica = start_replica(primary, *FAST)
    try:
        wait_caught_up(primary, replica)
        with primary.connect() as sock:
            sock.sendall(
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n"
            )
            replies = b""
            while replies.count(b"\r\n") < 2:
                replies += sock.recv(1024)
            assert replies == b"+OK\r\n:1\r\n"
        assert client(replica).get("k") == b"v"
    finally:
        replica.stop()
        primary.stop()


def _read_replies(sock: socket.socket, count: int) -> bytes:
    replies = b""
    while replies.count(b"\r\n") < count:
        data = sock.recv(1024)
        assert data, f"connection closed after {replies!r}"
        replies += data
    return replies


def test_requests_pipelined_behind_a_waiting_wait_are_answered_after_it() -> None:
    primary = start_server(*FAST)
    replica = start_replica(primary, *FAST)
    try:
        wait_caught_up(primary, replica)
        with primary.connect() as sock:
            # WAIT for two replicas where there is one waits out its 300 ms; the requests
            # behind it, in the same read and in a later one, wait for its answer.
            sock.sendall(
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                b"*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$3\r\n300\r\n"
                b"*1\r\n$4\r\nPING\r\n"
            )
            sock.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
            assert _read_replies(sock, 5) == b"+OK\r\n:1\r\n+PONG\r\n$1\r\nv\r\n"
            # Inside a transaction WAIT does not block: it counts at once, as Redis does.
            sock.sendall(
                b"*1\r\n$5\r\nMULTI\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$1\r\n0\r\n"
                b"*1\r\n$4\r\nEXEC\r\n*1\r\n$4\r\nPING\r\n"
            )
            assert _read_replies(sock, 5) == b"+OK\r\n+QUEUED\r\n*1\r\n:1\r\n+PONG\r\n"
    finally:
        replica.stop()
        primary.stop()


def test_wait_with_no_replicas_times_out_with_zero() -> None:
    primary = start_server(*FAST)
    try:
        writer = client(primary)
        writer.set("k", "v")
        assert command(primary, "WAIT", 1, 50) == 0
        assert command(primary, "WAIT", 0, 0) == 0
        with pytest.raises(kvstore.ResponseError, match="timeout is negative"):
            command(primary, "WAIT", 1, -1)
    finally:
        primary.stop()


def test_wait_is_refused_on_a_replica() -> None:
    primary = start_server(*FAST)
    replica = start_replica(primary, *FAST)
    try:
        wait_until(lambda: link_up(replica), "the link")
        with pytest.raises(kvstore.ResponseError, match="WAIT cannot be used with replica"):
            command(replica, "WAIT", 1, 0)
    finally:
        replica.stop()
        primary.stop()


def test_min_replicas_to_write_refuses_writes_without_enough_replicas() -> None:
    primary = start_server(*FAST, "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
    try:
        with pytest.raises(redis.ResponseError, match="NOREPLICAS Not enough good replicas"):
            client(primary).set("k", "v")
        assert client(primary).get("k") is None  # reads go on
        replica = start_replica(primary, *FAST)
        try:
            wait_acked(primary, 1)
            client(primary).set("k", "v")
            wait_caught_up(primary, replica)
            assert client(replica).get("k") == b"v"
        finally:
            replica.stop()
        wait_until(lambda: _refused(primary), "writes refused once the replica left")
        client(primary).config_set("min-replicas-to-write", "0")
        client(primary).set("k", "w")
    finally:
        primary.stop()


def _refused(primary: ServerProcess) -> bool:
    try:
        client(primary).set("probe", "1")
    except redis.ResponseError as exc:
        return str(exc).startswith("NOREPLICAS")
    return False


def test_a_replica_without_its_primary_refuses_stale_reads_when_told() -> None:
    with closed_port() as port:
        replica = start_server(
            *FAST, "--replicaof", f"127.0.0.1 {port}", "--replica-serve-stale-data", "no"
        )
        try:
            with pytest.raises(redis.ResponseError, match="Link with MASTER is down"):
                client(replica).get("k")
            assert b"master_link_status:down" in command(replica, "INFO", "replication")
            assert command(replica, "ROLE")[3] in (b"connect", b"connecting")
            client(replica).config_set("replica-serve-stale-data", "yes")
            assert client(replica).get("k") is None
            replica.wait_for_log("replication link to 127.0.0.1")
        finally:
            replica.stop()


def test_replconf_ack_gets_no_reply_and_unknown_options_an_error() -> None:
    primary = start_server(*FAST)
    try:
        with primary.connect() as sock:
            sock.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
            assert _line(sock) == b"+PONG\r\n"
            sock.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$5\r\nbogus\r\n$1\r\n1\r\n")
            assert _line(sock) == b"-ERR Unrecognized REPLCONF option: bogus\r\n"
    finally:
        primary.stop()


def _line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        assert chunk
        data += chunk
    return data
