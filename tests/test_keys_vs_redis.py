"""Key and expiry commands, scripted, on a real redis-server and on kvstore: the raw replies
must agree (KEYS and SCAN as sets, clock readings within a tolerance), errors included."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conftest import ServerProcess, wait_for
from redis_compare import (
    RedisPair,
    scan_all,
    start_kvstore_for_comparison,
    start_reference_redis,
)
from test_client_support import RedisServer

Script = list[tuple[str | bytes | int, ...]]


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, ServerProcess]]:
    reference = start_reference_redis(tmp_path_factory.mktemp("redis"))
    kvstore = start_kvstore_for_comparison()
    yield reference, kvstore
    kvstore.stop()
    reference.stop()


@pytest.fixture
def pair(servers: tuple[RedisServer, ServerProcess]) -> Iterator[RedisPair]:
    reference, kvstore = servers
    connections = RedisPair(reference.port, kvstore.port)
    connections.reset()
    yield connections
    connections.close()


def run_script(pair: RedisPair, script: Script) -> None:
    differences = [d for args in script if (d := pair.check(*args)) is not None]
    assert not differences, "\n".join(differences)


SCRIPTS: dict[str, Script] = {
    "type_unlink_exists": [
        ("SET", "a", "1"),
        ("SET", "", "empty key"),
        ("TYPE", "a"),
        ("TYPE", ""),
        ("TYPE", "missing"),
        ("UNLINK", "a", "missing", "a", ""),
        ("EXISTS", "a", ""),
        ("UNLINK", "a"),
        ("TYPE",),
        ("TYPE", "a", "b"),
        ("UNLINK",),
    ],
    "rename": [
        ("RENAME", "missing", "b"),
        ("RENAME", "missing", "missing"),
        ("SET", "a", "1"),
        ("RENAME", "a", "a"),
        ("GET", "a"),
        ("PEXPIRE", "a", "100000"),
        ("RENAME", "a", "b"),
        ("EXISTS", "a"),
        ("GET", "b"),
        ("TTL", "b"),
        ("SET", "c", "3"),
        ("RENAME", "c", "b"),
        ("GET", "b"),
        ("TTL", "b"),
        ("SET", "d", "4", "EX", "500"),
        ("RENAME", "b", "d"),
        ("TTL", "d"),
        ("RENAME", "d"),
        ("RENAME", "d", "e", "f"),
    ],
    "renamenx": [
        ("RENAMENX", "missing", "b"),
        ("SET", "a", "1", "EX", "100"),
        ("RENAMENX", "a", "a"),
        ("SET", "b", "2"),
        ("RENAMENX", "a", "b"),
        ("GET", "b"),
        ("RENAMENX", "a", "c"),
        ("GET", "c"),
        ("TTL", "c"),
        ("EXISTS", "a"),
        ("RENAMENX", "c"),
    ],
    "copy": [
        ("COPY", "missing", "b"),
        ("COPY", "a", "a"),
        ("SET", "a", "1", "PX", "90000"),
        ("COPY", "a", "a"),
        ("COPY", "a", "b"),
        ("GET", "b"),
        ("PTTL", "b"),
        ("SET", "a", "2"),
        ("COPY", "a", "b"),
        ("GET", "b"),
        ("COPY", "a", "b", "REPLACE"),
        ("GET", "b"),
        ("TTL", "b"),
        ("COPY", "a", "c", "DB", "0"),
        ("COPY", "a", "d", "db", "0", "replace", "REPLACE"),
        ("COPY", "a", "a", "DB", "0"),
        ("COPY", "a", "e", "DB", "1"),
        ("COPY", "a", "e", "DB", "-1"),
        ("COPY", "a", "e", "DB", "x"),
        ("COPY", "a", "e", "DB", "-0"),
        ("COPY", "a", "e", "DB", "2147483648"),
        ("COPY", "a", "e", "DB", "-2147483649"),
        ("COPY", "a", "e", "DB", "99999999999999999999"),
        ("COPY", "a", "e", "DB"),
        ("COPY", "a", "e", "DB", "0", "DB", "x"),
        ("COPY", "a", "e", "FOO"),
        ("COPY", "a", "e", "REPLACE", "FOO"),
        ("COPY", "missing", "e", "FOO"),
        ("EXISTS", "e"),
        ("COPY", "a"),
    ],
    "expire_basics": [
        ("EXPIRE", "missing", "10"),
        ("SET", "a", "1"),
        ("TTL", "a"),
        ("PTTL", "a"),
        ("EXPIRETIME", "a"),
        ("PEXPIRETIME", "a"),
        ("EXPIRE", "a", "100"),
        ("TTL", "a"),
        ("PTTL", "a"),
        ("PEXPIRE", "a", "50000"),
        ("TTL", "a"),
        ("EXPIREAT", "a", "4000000000"),
        ("EXPIRETIME", "a"),
        ("PEXPIRETIME", "a"),
        ("PEXPIREAT", "a", "4000000000123"),
        ("PEXPIRETIME", "a"),
        ("EXPIRETIME", "a"),
        ("PERSIST", "a"),
        ("PERSIST", "a"),
        ("PERSIST", "missing"),
        ("TTL", "a"),
        ("TTL", "missing"),
        ("PTTL", "missing"),
        ("EXPIRETIME", "missing"),
        ("PEXPIRETIME", "missing"),
    ],
    "expire_in_the_past_deletes": [
        ("SET", "a", "1"),
        ("EXPIRE", "a", "0"),
        ("EXISTS", "a"),
        ("SET", "a", "1"),
        ("EXPIRE", "a", "-5"),
        ("EXISTS", "a"),
        ("SET", "a", "1"),
        ("PEXPIRE", "a", "-1"),
        ("EXISTS", "a"),
        ("SET", "a", "1"),
        ("EXPIREAT", "a", "1"),
        ("EXISTS", "a"),
        ("SET", "a", "1"),
        ("PEXPIREAT", "a", "-9223372036854775808"),
        ("EXISTS", "a"),
        ("SET", "a", "1"),
        ("EXPIREAT", "a", "-9223372036854775"),
        ("EXISTS", "a"),
        ("EXPIRE", "a", "-5"),
    ],
    "expire_options": [
        ("SET", "a", "1"),
        ("EXPIRE", "a", "100", "XX"),
        ("EXPIRE", "a", "100", "GT"),
        ("TTL", "a"),
        ("EXPIRE", "a", "100", "LT"),
        ("TTL", "a"),
        ("EXPIRE", "a", "200", "NX"),
        ("EXPIRE", "a", "200", "nx"),
        ("EXPIRE", "a", "300", "xx"),
        ("TTL", "a"),
        ("EXPIRE", "a", "200", "GT"),
        ("EXPIRE", "a", "300", "GT"),
        ("EXPIRE", "a", "400", "gt"),
        ("TTL", "a"),
        ("EXPIRE", "a", "500", "LT"),
        ("EXPIRE", "a", "50", "LT", "XX"),
        ("TTL", "a"),
        ("EXPIRE", "a", "60", "XX", "GT"),
        ("EXPIRE", "a", "60", "NX", "NX"),
        ("EXPIRE", "a", "70", "GT", "GT", "XX"),
        ("TTL", "a"),
        ("PEXPIRE", "a", "-1", "LT"),
        ("EXISTS", "a"),
        ("SET", "b", "1"),
        ("EXPIRE", "b", "-1", "GT"),
        ("EXISTS", "b"),
        ("EXPIRE", "b", "-1", "NX"),
        ("EXISTS", "b"),
        ("EXPIRE", "missing", "10", "NX"),
    ],
    "expire_option_errors": [
        ("SET", "a", "1"),
        ("EXPIRE", "a", "10", "NX", "XX"),
        ("EXPIRE", "a", "10", "NX", "GT"),
        ("EXPIRE", "a", "10", "LT", "NX"),
        ("EXPIRE", "a", "10", "GT", "LT"),
        ("EXPIRE", "a", "10", "XX", "GT", "LT"),
        ("EXPIRE", "a", "10", "FOO"),
        ("EXPIRE", "a", "10", "NX", "FOO"),
        ("EXPIRE", "a", "10", b"BAD\x00TAIL"),
        ("EXPIRE", "a", "x", "FOO"),
        ("EXPIRE", "a", "x", "NX", "XX"),
        ("PEXPIRE", "a", "10", "GT", "LT"),
        ("EXPIREAT", "a", "10", "bar"),
        ("PEXPIREAT", "a", "10", "NX", "LT"),
        ("EXPIRE", "missing", "10", "FOO"),
        ("TTL", "a"),
    ],
    "expire_bad_numbers": [
        ("SET", "a", "1"),
        ("EXPIRE", "a", "x"),
        ("EXPIRE", "a", ""),
        ("EXPIRE", "a", "1.5"),
        ("EXPIRE", "a", " 10"),
        ("EXPIRE", "a", "+10"),
        ("EXPIRE", "a", "010"),
        ("EXPIRE", "a", "-0"),
        ("EXPIRE", "a", "9223372036854775808"),
        ("EXPIRE", "a", "-9223372036854775809"),
        ("EXPIRE", "a", "9223372036854775807"),
        ("EXPIRE", "a", "9223372036854776"),
        ("EXPIRE", "a", "-9223372036854776"),
        ("EXPIRE", "a", "9223372036854775"),
        ("PEXPIRE", "a", "9223372036854775807"),
        ("PEXPIRE", "a", "9223372036854775000"),
        ("EXPIREAT", "a", "9223372036854776"),
        ("EXPIREAT", "a", "-9223372036854776"),
        ("EXPIREAT", "a", "9223372036854775"),
        ("EXPIRETIME", "a"),
        ("PEXPIREAT", "a", "9223372036854775807"),
        ("PEXPIRETIME", "a"),
        ("TTL", "a"),
        ("EXPIRE", "missing", "9223372036854775807"),
        ("EXPIRE", "missing", "x"),
        ("PERSIST", "a"),
    ],
    "keys": [
        ("SET", "", "e"),
        ("SET", "hello", "1"),
        ("SET", "hallo", "1"),
        ("SET", "hxllo", "1"),
        ("SET", "hllo", "1"),
        ("SET", "heeeello", "1"),
        ("SET", "h*llo", "1"),
        ("SET", "h[a]llo", "1"),
        ("SET", b"bin\x00\xff\x80", "1"),
        ("KEYS", "*"),
        ("KEYS", "**"),
        ("KEYS", ""),
        ("KEYS", "h?llo"),
        ("KEYS", "h*llo"),
        ("KEYS", "h[ae]llo"),
        ("KEYS", "h[^e]llo"),
        ("KEYS", "h[a-b]llo"),
        ("KEYS", "h[b-a]llo"),
        ("KEYS", "h\\*llo"),
        ("KEYS", "h\\[a\\]llo"),
        ("KEYS", "h[\\]a]llo"),
        ("KEYS", "h["),
        ("KEYS", "h[^"),
        ("KEYS", "[]"),
        ("KEYS", "[^]*"),
        ("KEYS", "*llo\\"),
        ("KEYS", b"bin\x00*"),
        ("KEYS", b"bin?[\x00-\xff]*"),
        ("KEYS", b"bin?[\x7f-\x80]*"),
        ("KEYS", "*e*e*e*o"),
        ("KEYS",),
        ("KEYS", "a", "b"),
    ],
    "randomkey": [
        ("RANDOMKEY",),
        ("SET", "a", "1"),
        ("RANDOMKEY",),
        ("RANDOMKEY", "extra"),
    ],
    "flush": [
        ("SET", "a", "1"),
        ("FLUSHDB", "ASYNC"),
        ("DBSIZE",),
        ("SET", "a", "1"),
        ("FLUSHALL", "sync"),
        ("DBSIZE",),
        ("FLUSHDB", "LATER"),
        ("FLUSHALL", "ASYNC", "SYNC"),
        ("FLUSHDB",),
    ],
    "scan_errors": [
        ("SET", "a", "1"),
        ("SCAN", "x"),
        ("SCAN", " 1"),
        ("SCAN", "1x"),
        ("SCAN", "0x10"),
        ("SCAN", "+"),
        ("SCAN", "-"),
        ("SCAN", "18446744073709551616"),
        ("SCAN", "-18446744073709551616"),
        ("SCAN", "0", "COUNT", "0"),
        ("SCAN", "0", "COUNT", "-1"),
        ("SCAN", "0", "COUNT", "x"),
        ("SCAN", "0", "COUNT", "9223372036854775808"),
        ("SCAN", "0", "COUNT"),
        ("SCAN", "0", "MATCH"),
        ("SCAN", "0", "TYPE"),
        ("SCAN", "0", "FOO", "bar"),
        ("SCAN", "0", "MATCH", "*", "FOO"),
        ("SCAN", "x", "FOO"),
        ("SCAN", "0", "FOO", "bar", "COUNT", "x"),
        ("SCAN", "0", "COUNT", "x", "FOO", "bar"),
        ("SCAN",),
    ],
    "scan_one_call": [
        ("SET", "", "e"),
        ("SET", "a", "1"),
        ("SET", "b", "1"),
        ("SCAN", "0", "COUNT", "1000"),
        ("SCAN", "", "COUNT", "1000", "MATCH", "*"),
        ("SCAN", "0", "COUNT", "1000", "MATCH", "**"),
        ("SCAN", "0", "COUNT", "1000", "MATCH", "a", "MATCH", "b"),
        ("SCAN", "0", "COUNT", "1000", "TYPE", "string"),
        ("SCAN", "0", "COUNT", "1000", "TYPE", "STRING"),
        ("SCAN", "0", "COUNT", "1000", "TYPE", "hash"),
        ("SCAN", "0", "COUNT", "1000", "TYPE", "none"),
        ("SCAN", "0", "COUNT", "1000", "TYPE", "nosuchtype"),
        ("SCAN", "00", "count", "1000", "type", "string", "match", "[ab]"),
    ],
}


def _sorted_scan_reply(reply: object) -> object:
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return [reply[0], sorted(reply[1])]
    return reply


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(pair: RedisPair, name: str) -> None:
    script = SCRIPTS[name]
    differences = []
    for args in script:
        if args[0] == "SCAN":  # one call that covers a small table: the keys as a set
            expected, actual = (_sorted_scan_reply(r) for r in pair.both(*args))
            if expected != actual:
                differences.append(f"{args}: redis {expected!r}, kvstore {actual!r}")
        elif (difference := pair.check(*args)) is not None:
            differences.append(difference)
    assert not differences, "\n".join(differences)


def test_wrong_arity_of_every_command(pair: RedisPair) -> None:
    too_few = {
        "unlink": 1, "type": 1, "rename": 2, "renamenx": 2, "copy": 2, "expire": 2,
        "pexpire": 2, "expireat": 2, "pexpireat": 2, "ttl": 1, "pttl": 1, "expiretime": 1,
        "pexpiretime": 1, "persist": 1, "keys": 1, "scan": 1,
    }  # fmt: skip
    too_many = ["type", "rename", "renamenx", "ttl", "pttl", "expiretime", "pexpiretime"]
    script: Script = [(name, *["k"] * (count - 1)) for name, count in too_few.items()]
    script += [(name, "k", "k", "k") for name in too_many]
    script += [("persist", "k", "k"), ("keys", "*", "*"), ("randomkey", "k"), ("dbsize", "k")]
    run_script(pair, script)


def test_full_scans_agree(pair: RedisPair) -> None:
    for i in range(300):
        pair.both("SET", f"{'user' if i % 3 else 'item'}:{i}", "v")
    pair.both("SET", "", "empty")
    options: list[tuple[str, ...]] = [
        (),
        ("COUNT", "1"),
        ("COUNT", "7"),
        ("MATCH", "user:1*"),
        ("MATCH", "item:[0-4]?", "COUNT", "3"),
        ("MATCH", "*"),
        ("MATCH", "*", "TYPE", "string", "COUNT", "50"),
        ("TYPE", "list"),
    ]
    for option in options:
        expected, actual = scan_all(pair.redis, *option), scan_all(pair.kvstore, *option)
        assert expected == actual, option
    assert len(scan_all(pair.kvstore)) == 301


def test_expired_keys_are_never_returned(pair: RedisPair) -> None:
    deadline = int(time.time() * 1000) + 30
    for conn in (pair.redis, pair.kvstore):
        conn.call("SET", "stays", "1")
        conn.call("SET", "goes", "1", "PXAT", deadline)
        conn.call("SET", "goes too", "1")
        conn.call("PEXPIREAT", "goes too", "1")  # already past: deleted at once
    # Both servers read this machine's clock: once it passes the deadline, "goes" is expired
    # (whether or not a server has reclaimed it yet).
    wait_for(lambda: time.time() * 1000 > deadline + 2, 5, "the deadline to pass")
    script: Script = [
        ("KEYS", "*"),
        ("KEYS", "go*"),
        ("RANDOMKEY",),
        ("TYPE", "goes"),
        ("EXISTS", "goes", "goes too"),
        ("TTL", "goes"),
    ]
    run_script(pair, script)
    assert pair.kvstore.call("KEYS", "*") == [b"stays"]
    assert pair.kvstore.call("RANDOMKEY") == b"stays"
    assert scan_all(pair.kvstore) == scan_all(pair.redis) == {b"stays"}
