"""``--maxmemory``: the eviction keyspace's policies and bookkeeping, and a real server that
refuses writes (noeviction) or evicts (the other policies) and stays near its limit."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ServerProcess
from hostile_support import exchange
from kvstore.eviction import MAXMEMORY_POLICIES as POLICIES
from kvstore.eviction import EvictingKeyspace, MemoryGuard, SampledKeys
from kvstore.protocol import encode_request

Factory = Callable[..., ServerProcess]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def filled(policy: str, count: int = 1000, deadlines: bool = False) -> EvictingKeyspace:
    db = EvictingKeyspace(policy, clock=Clock(), seed=1)
    for i in range(count):
        db.set(b"k%d" % i, b"v" * 100, 2_000_000 + i if deadlines and i % 2 else None)
    return db


def test_evicted_keys_are_reported_and_counted() -> None:
    db = filled("allkeys-random")
    guard = MemoryGuard(db, db.used_memory // 2, 0)
    assert guard.make_room()
    evicted = db.evicted
    assert db.used_memory <= guard.maxmemory
    assert db.evicted_keys == len(evicted) > 0
    assert not any(db.contains(key) for key in evicted)
    assert len(db) + len(evicted) == 1000


def test_noeviction_refuses() -> None:
    db = filled("noeviction")
    guard = MemoryGuard(db, db.used_memory - 1, 0)
    assert not guard.make_room()
    assert len(db) == 1000
    assert db.evicted_keys == 0


def test_a_limit_of_zero_is_no_limit() -> None:
    db = filled("noeviction")
    guard = MemoryGuard(db, db.used_memory - 1, 0)
    guard.set_limit(0)  # CONFIG SET maxmemory 0, as Redis reads it
    assert guard.make_room()
    assert len(db) == 1000


@pytest.mark.parametrize(
    "policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]
)
def test_volatile_policies_evict_only_keys_with_a_deadline(policy: str) -> None:
    db = filled(policy, deadlines=True)
    assert MemoryGuard(db, db.used_memory * 3 // 4, 0).make_room()
    evicted = list(db.evicted)
    assert evicted
    assert all(int(key[1:]) % 2 for key in evicted)
    # Asked for more than the volatile keys hold: they all go, and the guard says no.
    assert not MemoryGuard(db, 1, 0).make_room()
    assert len(db) == 500
    assert db.volatile_count == 0


def test_volatile_ttl_prefers_the_nearest_deadline() -> None:
    db = filled("volatile-ttl", deadlines=True)
    MemoryGuard(db, db.used_memory - 50 * 400, 0).make_room()
    evicted = db.evicted
    mean = sum(int(key[1:]) for key in evicted) / len(evicted)
    assert mean < 400  # deadlines grow with the key's number: the early ones go first


def test_lru_prefers_keys_not_read_lately() -> None:
    db = filled("allkeys-lru")
    clock = db.clock
    assert isinstance(clock, Clock)
    clock.now += 10_000
    db.expire_cycle()  # advances the coarse access clock
    for i in range(500):  # read the first half again
        assert db.get(b"k%d" % i) is not None
    MemoryGuard(db, db.used_memory * 3 // 4, 0).make_room()
    evicted = db.evicted
    recently_read = sum(int(key[1:]) < 500 for key in evicted)
    assert recently_read < len(evicted) // 10


def test_lfu_prefers_keys_read_least_often() -> None:
    db = filled("allkeys-lfu")
    for i in range(500):  # read the first half, many times
        for _ in range(20):
            assert db.get(b"k%d" % i) is not None
    MemoryGuard(db, db.used_memory * 3 // 4, 0).make_room()
    evicted = db.evicted
    often_read = sum(int(key[1:]) < 500 for key in evicted)
    assert often_read < len(evicted) // 10


def test_changing_to_and_from_lfu_keeps_the_memory_count() -> None:
    db = filled("allkeys-lru")
    for policy in ("allkeys-lfu", "volatile-lfu", "noeviction", "allkeys-lfu", "allkeys-lru"):
        db.set_policy(policy)
        expected = filled(policy)
        assert db.used_memory == expected.used_memory, policy
        counts = {db.freq(b"k1"), db.freq(b"k999")}
        assert counts == ({5} if policy.endswith("-lfu") else {None}), policy


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.just(("get", 0)),
            st.just(("set", 0)),
            st.tuples(st.just("wait"), st.integers(0, 70_000)),  # minutes, past the wrap
            st.tuples(st.just("restore"), st.integers(0, 255)),
        ),
        max_size=60,
    )
)
def test_lfu_counters_stay_in_range_and_decay_a_point_a_minute(
    steps: list[tuple[str, int]],
) -> None:
    clock = Clock()
    db = EvictingKeyspace("allkeys-lfu", clock=clock, seed=1)

    def minute() -> int:  # Redis's LFU clock: minutes, in 16 bits
        return (clock.now // 60_000) & 0xFFFF

    db.set(b"k", b"v")
    counter, updated = 5, minute()  # the model: the counter and the minute it was stored
    for step, amount in steps:
        if step == "wait":
            clock.now += amount * 60_000
            db.expire_cycle()  # advances the coarse access clock
        elif step == "restore":
            db.set_freq(b"k", amount)
            counter, updated = amount, minute()
        else:
            decayed = max(0, counter - ((minute() - updated) & 0xFFFF))
            if step == "get":
                db.get(b"k")
            else:
                db.set(b"k", b"w")  # overwriting is an access too
            seen = db.freq(b"k")
            assert seen in (decayed, min(decayed + 1, 255))  # an access adds one, at most
            assert seen is not None
            counter, updated = seen, minute()
        assert db.freq(b"k") == max(0, counter - ((minute() - updated) & 0xFFFF))


def test_stale_sample_entries_are_dropped_when_drawn() -> None:
    db = filled("allkeys-random", count=10)
    for i in range(9):
        db.delete(b"k%d" % i)
    assert db.pick_victim() == b"k9"
    db.delete(b"k9")
    assert db.pick_victim() is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=200))
def test_sampled_keys_draw_only_live_keys(operations: list[tuple[bool, int]]) -> None:
    import random

    live: set[bytes] = set()
    sampled = SampledKeys()
    for add, number in operations:
        key = b"%d" % number
        if add and key not in live:
            live.add(key)
            sampled.add(key)
        elif not add:
            live.discard(key)
    rng = random.Random(0)
    drawn = sampled.draw(rng, live.__contains__)
    assert (drawn in live) if live else drawn is None


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        EvictingKeyspace("sometimes")
    assert "allkeys-lru" in POLICIES


# -- a real server ------------------------------------------------------------------------------


def resident(server: ServerProcess) -> int:
    with open(f"/proc/{server.proc.pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fill(server: ServerProcess, count: int, value_size: int) -> tuple[int, int]:
    """SET ``count`` new keys in pipelined batches; return (errors, peak resident size)."""
    errors = 0
    peak = 0
    value = b"x" * value_size
    with server.connect() as sock:
        for start in range(0, count, 1000):
            batch = b"".join(
                encode_request([b"SET", b"fill:%d" % i, value + b"%d" % i])
                for i in range(start, start + 1000)
            )
            sock.sendall(batch)
            replies = b""
            while replies.count(b"\r\n") < 1000:
                chunk = sock.recv(1 << 20)
                assert chunk
                replies += chunk
            errors += replies.count(b"-OOM command not allowed when used memory > 'maxmemory'.")
            peak = max(peak, resident(server))
    return errors, peak


LIMIT = 64 * 1024 * 1024


def test_noeviction_refuses_writes_near_the_limit(server_factory: Factory) -> None:
    server = server_factory("--maxmemory", "64mb", "--parser", "python")
    errors, peak = fill(server, 80_000, 1024)
    assert errors > 0
    assert peak <= LIMIT * 1.1
    with server.connect() as sock:  # reads and deletes still work
        exchange(sock, encode_request([b"GET", b"fill:0"]), b"$1025\r\n" + b"x" * 1024 + b"0\r\n")
        exchange(sock, encode_request([b"DEL", b"fill:0"]), b":1\r\n")


def test_allkeys_lru_evicts_and_stays_near_the_limit(server_factory: Factory) -> None:
    server = server_factory("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    errors, peak = fill(server, 120_000, 1024)
    assert errors == 0
    assert peak <= LIMIT * 1.1
    with server.connect() as sock:
        sock.sendall(encode_request([b"DBSIZE"]))
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += sock.recv(100)
        assert 10_000 < int(reply[1:]) < 120_000
        exchange(
            sock,
            encode_request([b"GET", b"fill:119999"]),  # the newest key survived
            b"$1030\r\n" + b"x" * 1024 + b"119999\r\n",
        )
