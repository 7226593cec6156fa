"""Key commands (UNLINK, TYPE, RENAME, RENAMENX, COPY, KEYS, SCAN, RANDOMKEY, FLUSHDB,
FLUSHALL) run in-process on a hand-moved clock, and the keyspace methods behind them."""

from __future__ import annotations

import pytest

from command_support import START_MS, FakeClock, Harness
from kvstore.commands import COMMANDS
from kvstore.keyspace import ENTRY_OVERHEAD, EXPIRY_OVERHEAD, Keyspace
from kvstore.protocol.replies import OK, ReplyError, Status


@pytest.fixture
def run() -> Harness:
    return Harness()


def test_unlink_counts_the_keys_it_removed(run: Harness) -> None:
    run("SET", "a", "1")
    run("SET", "b", "2")
    assert run("UNLINK", "a", "missing", "a", "b") == 2
    assert len(run.db) == 0
    assert run.db.used_memory == 0


def test_type(run: Harness) -> None:
    run("SET", "a", "1")
    run("SET", "gone", "1", "PX", "5")
    assert run("TYPE", "a") == Status("string")
    assert run("TYPE", "missing") == Status("none")
    run.advance(5)
    assert run("TYPE", "gone") == Status("none")


def test_rename_moves_value_and_deadline(run: Harness) -> None:
    run("SET", "a", "1", "PX", "5000")
    run("SET", "b", "old", "PX", "100")
    assert run("RENAME", "a", "b") == OK
    assert run("GET", "a") is None
    assert run("GET", "b") == b"1"
    assert run("PTTL", "b") == 5000
    assert run.db.used_memory == ENTRY_OVERHEAD + 2 + EXPIRY_OVERHEAD


def test_rename_of_a_key_without_deadline_clears_the_targets(run: Harness) -> None:
    run("SET", "a", "1")
    run("SET", "b", "2", "EX", "100")
    assert run("RENAME", "a", "b") == OK
    assert run("TTL", "b") == -1
    assert run.db.volatile_count == 0


def test_rename_errors_and_same_name(run: Harness) -> None:
    assert run("RENAME", "missing", "b") == ReplyError("ERR no such key")
    assert run("RENAME", "missing", "missing") == ReplyError("ERR no such key")
    assert run("RENAMENX", "missing", "b") == ReplyError("ERR no such key")
    run("SET", "a", "1", "EX", "10")
    assert run("RENAME", "a", "a") == OK
    assert run("RENAMENX", "a", "a") == 0
    assert run("TTL", "a") == 10
    run.advance(10_000)
    assert run("RENAME", "a", "b") == ReplyError("ERR no such key")


def test_renamenx(run: Harness) -> None:
    run("SET", "a", "1", "EX", "10")
    run("SET", "b", "2")
    assert run("RENAMENX", "a", "b") == 0
    assert run("GET", "b") == b"2"
    assert run("RENAMENX", "a", "c") == 1
    assert (run("GET", "a"), run("GET", "c"), run("TTL", "c")) == (None, b"1", 10)


def test_copy(run: Harness) -> None:
    run("SET", "a", "1", "EX", "10")
    run("SET", "b", "2")
    assert run("COPY", "a", "b") == 0
    assert run("GET", "b") == b"2"
    assert run("COPY", "a", "b", "REPLACE") == 1
    assert (run("GET", "b"), run("TTL", "b")) == (b"1", 10)
    assert run("COPY", "a", "c", "DB", "0") == 1
    assert run("GET", "a") == b"1"
    assert run("COPY", "missing", "d") == 0
    run("PERSIST", "a")
    assert run("COPY", "a", "b", "replace") == 1
    assert run("TTL", "b") == -1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("DB", "16"), "ERR DB index is out of range"),
        (("DB", "-1"), "ERR DB index is out of range"),
        (("DB", "x"), "ERR value is not an integer or out of range"),
        (
            ("DB", "2147483648"),
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ),
        (("DB",), "ERR syntax error"),
        (("REPLACE", "FOO"), "ERR syntax error"),
        (("DB", "0", "DB", "16"), "ERR DB index is out of range"),
    ],
)
def test_copy_option_errors(run: Harness, options: tuple[str, ...], message: str) -> None:
    run("SET", "a", "1")
    assert run("COPY", "a", "b", *options) == ReplyError(message)
    assert run("EXISTS", "b") == 0


def test_copy_onto_itself(run: Harness) -> None:
    assert run("COPY", "a", "a") == ReplyError("ERR source and destination objects are the same")


def test_keys_with_patterns(run: Harness) -> None:
    for key in ["", "hello", "hallo", "hxllo", "hllo", "h*llo", "user:1", "user:22"]:
        run("SET", key, "v")
    run("SET", "gone", "v", "PX", "1")
    run.advance(1)
    assert run.keys("KEYS", "*") == sorted(
        [b"", b"hello", b"hallo", b"hxllo", b"hllo", b"h*llo", b"user:1", b"user:22"]
    )
    assert b"" not in run.keys("KEYS", "**")
    assert run.keys("KEYS", "h?llo") == [b"h*llo", b"hallo", b"hello", b"hxllo"]
    assert run.keys("KEYS", "h[ae]llo") == [b"hallo", b"hello"]
    assert run.keys("KEYS", "h\\*llo") == [b"h*llo"]
    assert run.keys("KEYS", "user:??") == [b"user:22"]
    assert run.keys("KEYS", "gone") == []
    assert run.keys("KEYS", "") == [b""]


def test_randomkey(run: Harness) -> None:
    assert run("RANDOMKEY") is None
    run("SET", "a", "1")
    run("SET", "b", "1", "PX", "1")
    assert run("RANDOMKEY") in (b"a", b"b")
    run.advance(1)
    for _ in range(20):
        assert run("RANDOMKEY") == b"a"


def test_random_key_reaches_every_position() -> None:
    db = Keyspace(clock=FakeClock())
    for i in range(10):
        db.set(b"k%d" % i, b"v")
    picks = {db.random_key(lambda n, i=i: i % n) for i in range(10)}  # type: ignore[misc]
    assert picks == {b"k%d" % i for i in range(10)}


def test_random_key_reclaims_a_table_of_expired_keys_in_one_sweep() -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    for i in range(1_000):
        db.set(b"k%d" % i, b"v", START_MS + 1)
    db.set(b"live", b"v")
    clock.now += 1
    draws = 0

    def choose(n: int) -> int:
        nonlocal draws
        draws += 1
        return 0  # always the oldest key: an expired one while any is left

    assert db.random_key(choose) == b"live"
    assert draws == 9  # eight misses, one sweep, one hit
    assert len(db) == 1
    assert db.expired_keys == 1_000
    clock.now += 1
    db.delete(b"live")
    assert db.random_key() is None


def test_flush_commands(run: Harness) -> None:
    for name in ("FLUSHDB", "FLUSHALL"):
        run("SET", "a", "1", "EX", "5")
        assert run(name) == OK
        assert run("DBSIZE") == 0
        for mode in ("ASYNC", "sync"):
            run("SET", "a", "1")
            assert run(name, mode) == OK
            assert run("DBSIZE") == 0
        assert run(name, "LATER") == ReplyError("ERR syntax error")
        assert run(name, "ASYNC", "SYNC") == ReplyError("ERR syntax error")
    assert run.db.used_memory == 0


def test_scan_returns_every_key_once_in_small_steps(run: Harness) -> None:
    keys = {b"key:%d" % i for i in range(95)}
    for key in keys:
        run("SET", key, "v")
    seen: list[bytes] = []
    cursor = b"0"
    calls = 0
    while True:
        cursor, batch = run.scan(cursor, "COUNT", "10")
        assert len(batch) <= 10
        seen += batch
        calls += 1
        if cursor == b"0":
            break
        assert int(cursor) > 0
    assert calls == 10
    assert sorted(seen) == sorted(keys)


def test_scan_filters(run: Harness) -> None:
    for key in ["", "a1", "a2", "b1"]:
        run("SET", key, "v")
    assert run.scan("0", "COUNT", "100", "MATCH", "a*") == (b"0", [b"a1", b"a2"])
    assert run.scan("0", "COUNT", "100", "MATCH", "*") == (b"0", [b"", b"a1", b"a2", b"b1"])
    assert run.scan("0", "COUNT", "100", "TYPE", "STRING") == (b"0", [b"", b"a1", b"a2", b"b1"])
    assert run.scan("0", "TYPE", "hash") == (b"0", [])
    assert run.scan("0", "COUNT", "100", "MATCH", "b*", "MATCH", "a1") == (b"0", [b"a1"])


@pytest.mark.parametrize("cursor", ["x", " 1", "1 ", "0x1", "+", "-", "18446744073709551616"])
def test_scan_rejects_bad_cursors(run: Harness, cursor: str) -> None:
    assert run("SCAN", cursor) == ReplyError("ERR invalid cursor")


@pytest.mark.parametrize("cursor", ["", "+0", "-1", "18446744073709551615", "00", b"0\x00junk"])
def test_scan_accepts_what_strtoul_accepts(run: Harness, cursor: str | bytes) -> None:
    run("SET", "a", "1")
    assert run("SCAN", cursor, "COUNT", "5") == [b"0", [b"a"]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("COUNT", "0"), "ERR syntax error"),
        (("COUNT", "-3"), "ERR syntax error"),
        (("COUNT", "x"), "ERR value is not an integer or out of range"),
        (("COUNT",), "ERR syntax error"),
        (("MATCH",), "ERR syntax error"),
        (("FOO", "bar"), "ERR syntax error"),
    ],
)
def test_scan_option_errors(run: Harness, options: tuple[str, ...], message: str) -> None:
    assert run("SCAN", "0", *options) == ReplyError(message)


def test_command_table_entries() -> None:
    expected = {
        "unlink": (-2, {"write", "fast"}, (1, -1, 1)),
        "type": (2, {"readonly", "fast"}, (1, 1, 1)),
        "rename": (3, {"write"}, (1, 2, 1)),
        "renamenx": (3, {"write", "fast"}, (1, 2, 1)),
        "copy": (-3, {"write", "denyoom"}, (1, 2, 1)),
        "keys": (2, {"readonly"}, (0, 0, 0)),
        "scan": (-2, {"readonly"}, (0, 0, 0)),
        "randomkey": (1, {"readonly"}, (0, 0, 0)),
        "flushdb": (-1, {"write"}, (0, 0, 0)),
        "flushall": (-1, {"write"}, (0, 0, 0)),
    }
    for name, (arity, flags, keys) in expected.items():
        entry = COMMANDS[name.encode()]
        assert entry.arity == arity, name
        assert entry.flags == frozenset(flags), name
        assert (entry.first_key, entry.last_key, entry.key_step) == keys, name
