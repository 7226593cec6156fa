"""Partial resynchronisation: a replica that comes back within the backlog continues
(+CONTINUE), beyond it gets a full copy; a promoted replica keeps its old history (replid2)
so the others continue from it; a chain of replicas converges (real processes)."""

from __future__ import annotations

from pathlib import Path

from conftest import VARIANTS, ServerProcess, start_server
from replication_support import (
    client,
    command,
    contents,
    info,
    link_up,
    offset,
    stat,
    wait_caught_up,
    wait_until,
)

FAST = VARIANTS["fast"]


def replica_in(directory: Path, primary: ServerProcess) -> ServerProcess:
    """A replica keeping its data in ``directory`` (so it can be restarted with it)."""
    return start_server(
        *FAST, "--dir", str(directory), "--replicaof", f"{primary.host} {primary.port}"
    )


def test_a_replica_restarted_within_the_backlog_continues(tmp_path: Path) -> None:
    primary = start_server(*FAST)
    try:
        client(primary).set("before", "1")
        replica = replica_in(tmp_path, primary)
        wait_caught_up(primary, replica)
        replica.stop()  # graceful: it notes its offset
        client(primary).set("while-away", "2")
        client(primary).delete("before")
        replica = replica_in(tmp_path, primary)
        try:
            wait_caught_up(primary, replica)
            assert contents(replica) == {(0, b"while-away"): b"2"}
            assert stat(primary, "sync_full") == 1
            assert stat(primary, "sync_partial_ok") == 1
            assert stat(primary, "sync_partial_err") == 0
            replica.wait_for_log("continuing from")
        finally:
            replica.stop()
    finally:
        primary.stop()


def test_a_replica_restarted_beyond_the_backlog_gets_a_full_copy(tmp_path: Path) -> None:
    primary = start_server(*FAST, "--repl-backlog-size", "16kb")
    try:
        replica = replica_in(tmp_path, primary)
        wait_caught_up(primary, replica)
        replica.stop()
        client(primary).mset({f"k{i}": "x" * 100 for i in range(1000)})  # past 16 KB
        replica = replica_in(tmp_path, primary)
        try:
            wait_caught_up(primary, replica)
            assert contents(replica) == contents(primary)
            assert stat(primary, "sync_full") == 2
            assert stat(primary, "sync_partial_ok") == 0
            assert stat(primary, "sync_partial_err") == 1
        finally:
            replica.stop()
    finally:
        primary.stop()


def test_a_replica_restarted_after_a_crash_gets_a_full_copy(tmp_path: Path) -> None:
    primary = start_server(*FAST)
    try:
        replica = replica_in(tmp_path, primary)
        client(primary).set("k", "v")
        wait_caught_up(primary, replica)
        replica.proc.kill()  # no note of its offset: its data may stand anywhere
        replica.finish_log()
        client(primary).set("k2", "v2")
        replica = replica_in(tmp_path, primary)
        try:
            wait_caught_up(primary, replica)
            assert contents(replica) == contents(primary)
            assert stat(primary, "sync_full") == 2
        finally:
            replica.stop()
    finally:
        primary.stop()


def test_a_promoted_replica_lets_the_others_continue() -> None:
    primary = start_server(*FAST)
    first = start_server(*FAST, "--replicaof", f"127.0.0.1 {primary.port}")
    second = start_server(*FAST, "--replicaof", f"127.0.0.1 {primary.port}")
    try:
        for db in (0, 3):
            client(primary, db).mset({f"k{i}": str(i) for i in range(100)})
        wait_caught_up(primary, first, second)
        old_id = info(primary)["master_replid"]
        stopped_at = offset(primary)
        primary.proc.kill()
        primary.finish_log()
        assert command(first, "REPLICAOF", "NO", "ONE") == b"OK"
        assert command(second, "REPLICAOF", "127.0.0.1", first.port) == b"OK"
        wait_until(lambda: link_up(second), "the second replica to follow the first")
        fields = info(first)
        assert fields["master_replid2"] == old_id
        assert fields["second_repl_offset"] == str(stopped_at + 1)
        assert stat(first, "sync_partial_ok") == 1
        assert stat(first, "sync_full") == 0
        client(first, 3).set("after", "1")
        client(first).set("after0", "1")
        wait_caught_up(first, second)
        assert contents(second, 4) == contents(first, 4)
        assert info(second)["master_replid"] == fields["master_replid"]
    finally:
        second.stop()
        first.stop()
        primary.stop()


def test_a_chain_of_replicas_converges() -> None:
    primary = start_server(*FAST)
    middle = start_server(*FAST, "--replicaof", f"127.0.0.1 {primary.port}")
    end = start_server(*VARIANTS["pure"], "--no-persist", "--replicaof", f"127.0.0.1 {middle.port}")
    try:
        for db in (0, 2):
            client(primary, db).mset({f"k{i}": str(i) for i in range(500)})
        client(primary).delete("k1")
        client(primary, 2).set("volatile", "v", ex=100)
        wait_caught_up(primary, middle, end)
        assert contents(end, 3) == contents(primary, 3)
        assert info(end)["master_replid"] == info(primary)["master_replid"]
        # The middle node's replica shows in its own INFO, not the primary's.
        assert info(middle)["connected_slaves"] == "1"
        assert info(primary)["connected_slaves"] == "1"
        with_writes_later = offset(primary)
        client(primary, 2).set("later", "1")
        wait_until(lambda: offset(end) > with_writes_later, "the later write at the end")
        assert client(end, 2).get("later") == b"1"
    finally:
        end.stop()
        middle.stop()
        primary.stop()


def test_replicas_continue_after_their_primary_restarts(tmp_path: Path) -> None:
    primary = start_server(*FAST, "--dir", str(tmp_path))
    port = primary.port
    replica = start_server(*FAST, "--replicaof", f"127.0.0.1 {port}")
    try:
        client(primary, 2).set("k", "v")
        wait_caught_up(primary, replica)
        primary.stop()  # graceful: it notes its ID and offset
        primary = start_server(*FAST, "--dir", str(tmp_path), port=port)
        wait_until(lambda: link_up(replica), "the replica to reconnect")
        assert stat(primary, "sync_partial_ok") == 1
        assert stat(primary, "sync_full") == 0
        client(primary).set("after", "restart")
        wait_caught_up(primary, replica)
        assert contents(replica, 3) == contents(primary, 3)
    finally:
        replica.stop()
        primary.stop()


def test_a_primary_without_persistence_streams_too() -> None:
    primary = start_server(*FAST, "--no-persist")
    replica = start_server(*VARIANTS["pure"], "--replicaof", f"127.0.0.1 {primary.port}")
    try:
        client(primary).set("before", "1")
        wait_caught_up(primary, replica)
        for db in (0, 1):
            client(primary, db).mset({f"k{i}": str(i) for i in range(100)})
        client(primary).set("short", "v", px=20)
        wait_until(lambda: client(primary).get("short") is None, "the key to expire")
        wait_caught_up(primary, replica)
        assert contents(replica, 2) == contents(primary, 2)
        assert client(replica).dbsize() == client(primary).dbsize()
    finally:
        replica.stop()
        primary.stop()
