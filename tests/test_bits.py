"""Bit commands and LCS in-process (limits, expiry, WATCH, the memory guard), and through a
real server across a restart. Their replies are compared with a real redis-server by the
differential test (``differential_bits.py``); these are the cases a random walk rarely meets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from command_support import Harness
from conftest import ServerProcess
from kvstore.commands import COMMANDS, Dispatcher, ServerState, Session
from kvstore.commands.lcs import _Table
from kvstore.commands.memory import OOM_MESSAGE, guarded_table
from kvstore.eviction import EvictingKeyspace, MemoryGuard
from kvstore.keyspace import Databases, Watch
from kvstore.protocol.replies import ReplyError

Factory = Callable[..., ServerProcess]
BAD_OFFSET = ReplyError("ERR bit offset is not an integer or out of range")


@pytest.fixture
def run() -> Harness:
    return Harness()


def test_offsets_stop_at_the_512_mib_limit_before_anything_is_allocated(run: Harness) -> None:
    for offset in ("4294967296", "-1", "9223372036854775807", "1.5", ""):
        assert run("SETBIT", "k", offset, "1") == BAD_OFFSET
        assert run("GETBIT", "k", offset) == BAD_OFFSET
    assert run("GETBIT", "k", "4294967295") == 0  # the last offset is valid: reading is free
    assert run("BITFIELD", "k", "SET", "u8", "#536870912", "1") == BAD_OFFSET
    assert run("BITFIELD", "k", "GET", "i64", "#153722867280912930") == BAD_OFFSET  # wraps < 0
    assert run("EXISTS", "k") == 0


def test_setbit_grows_with_zero_bytes_and_keeps_the_deadline(run: Harness) -> None:
    run("SET", "k", "a", "PX", "100000")
    assert run("SETBIT", "k", "23", "1") == 0
    assert run("GET", "k") == b"a\x00\x01"
    assert run("PTTL", "k") == 100000
    assert run("SETBIT", "k", "1", "0") == 1
    assert run("GET", "k") == b"!\x00\x01"


def test_bitop_replaces_the_destination_and_its_deadline(run: Harness) -> None:
    run("SET", "a", b"\xff\x0f")
    run("SET", "b", b"\x0f")
    run("SET", "d", "old", "PX", "100000")
    assert run("BITOP", "AND", "d", "a", "b") == 2
    assert run("GET", "d") == b"\x0f\x00"
    assert run("PTTL", "d") == -1
    assert run("BITOP", "NOT", "d", "missing") == 0  # no input: the destination goes
    assert run("EXISTS", "d") == 0


def test_bitfield_types_offsets_and_overflow(run: Harness) -> None:
    assert run("BITFIELD", "k", "SET", "i8", "#1", "-1", "GET", "u16", "0") == [0, 255]
    assert run("BITFIELD", "k", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "4") == [1, 1]
    assert run("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "200") == [127]
    assert run("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "1") == [None]
    assert run("BITFIELD", "w", "SET", "i64", "0", str(2**63 - 1)) == [0]
    assert run("BITFIELD", "w", "INCRBY", "i64", "0", "1") == [-(2**63)]  # wrapped
    assert run("BITFIELD", "w", "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-1") == [-(2**63)]
    assert run("BITFIELD", "u", "SET", "u63", "0", "-1") == [0]
    assert run("BITFIELD_RO", "u", "GET", "u63", "0") == [2**63 - 1]
    assert run("BITFIELD_RO", "k", "SET", "u8", "0", "1") == ReplyError(
        "ERR BITFIELD_RO only supports the GET subcommand"
    )
    assert run("BITFIELD", "k", "GET", "u64", "0") == ReplyError(
        "ERR Invalid bitfield type. Use something like i16 u8. "
        "Note that u64 is not supported but i64 is."
    )


def test_bit_ranges(run: Harness) -> None:
    run("SET", "k", b"\x00\xff\xf0")
    assert run("BITCOUNT", "k") == 12
    assert run("BITCOUNT", "k", "1", "1") == 8
    assert run("BITCOUNT", "k", "5", "12", "BIT") == 5
    assert run("BITCOUNT", "k", "-1", "-2") == 0
    assert run("BITPOS", "k", "1") == 8
    assert run("BITPOS", "k", "0", "1") == 20
    assert run("BITPOS", "k", "0", "1", "1") == -1  # an explicit end: no clear bit in it
    assert run("BITPOS", "k", "1", "9", "15", "BIT") == 9
    assert run("BITPOS", "k", "0", "9", "15", "BIT") == -1
    assert run("BITPOS", "k", "0", "9", "23", "BIT") == 20
    assert run("BITPOS", "missing", "0") == 0
    assert run("BITPOS", "missing", "1") == -1


def test_a_bit_write_that_changes_nothing_is_no_change(run: Harness) -> None:
    run("SET", "k", "12")
    watch = Watch()
    run.db.watch(b"k", watch)
    dirty = run.db.dirty
    assert run("SETBIT", "k", "2", "1") == 1  # '1' is 0x31: bit 2 is set already
    assert run("BITFIELD", "k", "SET", "u8", "0", "49") == [49]
    assert not watch.dirty
    assert run.db.dirty == dirty
    assert run("OBJECT", "ENCODING", "k") == b"raw"  # but Redis makes it raw all the same


def test_write_commands_declare_their_keys_for_the_log() -> None:
    for name, first, last in (("setbit", 1, 1), ("bitfield", 1, 1), ("bitop", 2, -1)):
        command = COMMANDS[name.encode()]
        assert {"write", "denyoom"} <= command.flags
        assert (command.first_key, command.last_key) == (first, last)
    assert COMMANDS[b"restore"].first_key == 1


def test_growing_bit_writes_are_refused_under_oom() -> None:
    db = EvictingKeyspace("noeviction")
    for i in range(100):
        db.set(b"k%d" % i, b"v" * 100)
    guard = MemoryGuard(db, db.used_memory - 1, 0)  # already over the limit
    dispatcher = Dispatcher(guarded_table(COMMANDS, guard))
    session = Session(ServerState(dbs=Databases.with_first(db)))
    oom = ReplyError(OOM_MESSAGE)
    for args in (
        [b"SETBIT", b"k1", b"1", b"1"],
        [b"BITFIELD", b"k1", b"SET", b"u8", b"0", b"1"],
        [b"BITOP", b"OR", b"k1", b"k2"],
        [b"RESTORE", b"new", b"0", b"\x00"],
    ):
        assert dispatcher.execute(session, args) == oom
    assert dispatcher.execute(session, [b"GETBIT", b"k1", b"1"]) == 1
    assert dispatcher.execute(session, [b"BITFIELD_RO", b"k1", b"GET", b"u8", b"0"]) == [118]


def _lcs_lengths(a: bytes, b: bytes) -> list[list[int]]:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=30), st.binary(max_size=30))
def test_lcs_bit_parallel_table_is_the_textbook_one(a: bytes, b: bytes) -> None:
    table = _Table(a, b)
    expected = _lcs_lengths(a, b)
    assert all(
        table.length(i, j) == expected[i][j] for i in range(len(a) + 1) for j in range(len(b) + 1)
    )


def test_lcs_refuses_what_redis_refuses(run: Harness) -> None:
    run("SET", "a", "x" * 12000)
    run("SET", "b", "x" * 12000)
    assert run("LCS", "a", "b", "LEN") == ReplyError(
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    )
    assert run("LCS", "a", "b", "LEN", "IDX") == ReplyError(
        "ERR If you want both the length and indexes, please just use IDX."
    )


def test_bit_writes_and_restore_survive_a_restart(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory("--dir", str(tmp_path))
    r = redis.Redis(port=server.port, socket_timeout=10)
    r.set("plain", "x", px=10_000_000)
    r.setbit("plain", 20, 1)
    r.bitfield("field").set("i16", "#2", -5).incrby("u4", 0, 3).execute()
    r.set("src", b"\x0f\xf0")
    r.bitop("NOT", "inverted", "src")
    payload = r.dump("src")
    assert payload is not None
    r.restore("restored", 0, payload)
    r.restore("expiring", 10_000_000, payload)
    r.setbit("cleared", 3, 1)
    r.bitop("AND", "cleared", "nosuchkey")  # deletes it
    before = {key: r.get(key) for key in ("plain", "field", "inverted", "restored", "expiring")}
    server.stop()
    r = redis.Redis(port=server_factory("--dir", str(tmp_path)).port, socket_timeout=10)
    assert {key: r.get(key) for key in before} == before
    assert before["field"] == b"\x30\x00\x00\x00\xff\xfb"
    assert 0 < r.pttl("plain") <= 10_000_000
    assert 0 < r.pttl("expiring") <= 10_000_000
    assert r.pttl("restored") == -1
    assert r.exists("cleared") == 0
