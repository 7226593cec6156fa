"""Key slots (kvstore.slots): CRC16 and hash tags, against known vectors and against a real
redis-server's CLUSTER KEYSLOT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster_support import start_redis_cluster_node
from kvstore.slots import SLOTS, crc16, hashed_part, key_slot
from redis_compare import RawConnection

#: Known answers: the CRC16 check value, and slots Redis Cluster's specification and
#: redis-server give.
VECTORS = [
    (b"foo", 12182),
    (b"bar", 5061),
    (b"user1000", 3443),
    (b"{user1000}.following", 3443),
    (b"{user1000}.followers", 3443),
    (b"foo{}{bar}", 8363),  # an empty tag hashes the whole key
    (b"foo{{bar}}zap", key_slot(b"{bar")),  # the tag is "{bar"
    (b"foo{bar}{zap}", 5061),  # only the first tag counts
    (b"", 0),
]

keys = st.binary(max_size=40) | st.text(alphabet="ab{}", max_size=12).map(str.encode)


def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x31C3


@pytest.mark.parametrize(("key", "slot"), VECTORS)
def test_known_slots(key: bytes, slot: int) -> None:
    assert key_slot(key) == slot


@given(keys, keys, keys)
def test_a_hash_tag_decides_the_slot(prefix: bytes, tag: bytes, suffix: bytes) -> None:
    if b"{" in prefix or b"}" in tag or not tag:
        return
    assert key_slot(prefix + b"{" + tag + b"}" + suffix) == key_slot(tag)


@given(keys)
def test_slots_are_in_range_and_follow_the_hashed_part(key: bytes) -> None:
    assert 0 <= key_slot(key) < SLOTS
    assert key_slot(key) == crc16(hashed_part(key)) % SLOTS


@pytest.fixture(scope="module")
def redis_conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawConnection]:
    workdir: Path = tmp_path_factory.mktemp("redis-cluster")
    redis = start_redis_cluster_node(workdir)
    conn = RawConnection("127.0.0.1", redis.port)
    try:
        yield conn
    finally:
        conn.close()
        redis.stop()


@settings(max_examples=300, deadline=None)
@given(keys)
def test_slots_agree_with_redis(redis_conn: RawConnection, key: bytes) -> None:
    assert redis_conn.call("CLUSTER", "KEYSLOT", key) == key_slot(key)
