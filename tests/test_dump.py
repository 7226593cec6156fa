"""DUMP and RESTORE against a real redis-server: the same payload for the same value, byte for
byte (integers, short, long and compressible, binary, empty), and each server restoring the
other's payloads; LZF and CRC-64 on their own."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ServerProcess
from kvstore.commands import lzf
from kvstore.commands.dump import crc64, load, payload
from redis_compare import RawConnection, start_kvstore_for_comparison, start_reference_redis
from test_client_support import RedisServer

_rng = random.Random(7)
VALUES = [
    b"",
    b"0",
    b"-1",
    b"127",
    b"-128",
    b"128",
    b"32767",
    b"-32769",
    b"2147483647",
    b"2147483648",
    b"-2147483648",
    b"12345678901",
    b"9223372036854775807",
    b"007",
    b"1.5",
    b"hello",
    b"x" * 20,
    b"x" * 21,
    b"ab" * 11,
    b"abc" * 5000,
    bytes(range(256)) * 3,
    bytes(_rng.randrange(256) for _ in range(300)),  # does not compress
    b" ".join(b"word%d" % _rng.randrange(50) for _ in range(2000)),
    b"\x00" * 70_000,
    bytes(_rng.randrange(4) for _ in range(20_000)),
]


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RawConnection, RawConnection]]:
    reference: RedisServer = start_reference_redis(tmp_path_factory.mktemp("dump-redis"))
    kvstore: ServerProcess = start_kvstore_for_comparison()
    pair = RawConnection(reference.host, reference.port), RawConnection(kvstore.host, kvstore.port)
    yield pair
    for connection in pair:
        connection.close()
    kvstore.stop()
    reference.stop()


@pytest.mark.parametrize("value", VALUES, ids=lambda value: f"{len(value)}B:{value[:8]!r}")
def test_payloads_are_redis_s_and_restore_both_ways(
    servers: tuple[RawConnection, RawConnection], value: bytes
) -> None:
    redis, kvstore = servers
    for connection in servers:
        assert connection.call("SET", "v", value) == ("+", b"OK")
    theirs = redis.call("DUMP", "v")
    ours = kvstore.call("DUMP", "v")
    assert ours == theirs
    assert payload(value) == theirs
    for connection, data in ((kvstore, theirs), (redis, ours)):
        assert connection.call("RESTORE", "w", 0, data, "REPLACE") == ("+", b"OK")
        assert connection.call("GET", "w") == value


def test_restore_refuses_what_redis_refuses(servers: tuple[RawConnection, RawConnection]) -> None:
    redis, kvstore = servers
    good = payload(b"value")
    cases = [
        ("RESTORE", "k", 0, good[:-1] + bytes([good[-1] ^ 1])),  # checksum
        ("RESTORE", "k", 0, good[:-10] + b"\x0b\x00" + good[-8:]),  # version 11
        ("RESTORE", "k", 0, b"short"),
        ("RESTORE", "k", -1, good),
        ("RESTORE", "k", 0, good, "FREQ", 256),
        ("RESTORE", "k", 0, good, "IDLETIME", -1),
        ("RESTORE", "k", 0, good, "IDLETIME", 1, "FREQ", 1),
        ("RESTORE", "k", 0, good, "bogus"),
        ("SET", "k", "exists"),
        ("RESTORE", "k", 0, good),
        ("RESTORE", "k", 1, good, "ABSTTL", "REPLACE"),  # a deadline long past: just deleted
        ("EXISTS", "k"),
    ]
    for args in cases:
        assert kvstore.call(*args) == redis.call(*args), args


def test_a_payload_of_another_type_is_refused(servers: tuple[RawConnection, RawConnection]) -> None:
    redis, kvstore = servers
    redis.call("DEL", "h")
    redis.call("HSET", "h", "field", "value")
    data = redis.call("DUMP", "h")
    assert kvstore.call("RESTORE", "h", 0, data) == ("-", b"ERR Bad data format")


def test_crc64_is_redis_s() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(st.sampled_from([b"ab", b"abc", b"x", b"\x00", b"hello "]), max_size=200).map(
            b"".join
        ),
    )
)
def test_lzf_round_trip_and_payloads_load(value: bytes) -> None:
    packed = lzf.compress(value, len(value) + 64)
    if value:
        assert packed is not None
        assert lzf.decompress(packed, len(value)) == value
        assert lzf.decompress(packed, len(value) + 1) is None
    assert load(payload(value)) == value
