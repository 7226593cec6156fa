"""The active expiry cycle: its effort follows the share of expired keys it finds, within a time
slice (deterministic, on hand-moved clocks), and a real server reclaims many keys that expire
together without anyone reading them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import kvstore
from command_support import FakeClock
from conftest import VARIANTS, ServerProcess, wait_for
from kvstore.eviction import EvictingKeyspace
from kvstore.keyspace import (
    ACTIVE_EXPIRE_BATCH,
    ACTIVE_EXPIRE_TIMER_EVERY,
    Keyspace,
)


class StepTimer:
    """A monotonic timer that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.step
        return self.now


def loaded(
    make: Callable[[FakeClock], Keyspace], due: int, later: int
) -> tuple[Keyspace, FakeClock]:
    clock = FakeClock()
    db = make(clock)
    for i in range(due):
        db.set(b"due%d" % i, b"v", clock.now + 10)
    for i in range(later):
        db.set(b"later%d" % i, b"v", clock.now + 1_000_000)
    clock.now += 10
    return db, clock


MAKERS: dict[str, Callable[[FakeClock], Keyspace]] = {
    "plain": lambda clock: Keyspace(clock=clock),
    "evicting": lambda clock: EvictingKeyspace("allkeys-lru", clock=clock, seed=1),
}


@pytest.mark.parametrize(
    ("make", "looks", "reads"),
    [
        # The start, then one look every few batches: the third look passes 2.5 ms.
        (MAKERS["plain"], 3, 4),
        # The evicting keyspace's housekeeping first (two reads) takes 1 ms of the slice.
        (MAKERS["evicting"], 2, 5),
    ],
    ids=MAKERS.keys(),
)
def test_many_expired_keys_take_the_whole_time_slice(
    make: Callable[[FakeClock], Keyspace], looks: int, reads: int
) -> None:
    db, _ = loaded(make, due=10_000, later=10)
    timer = StepTimer(0.001)
    assert db.active_expire_cycle(0.0025, timer) is True
    batches = looks * ACTIVE_EXPIRE_TIMER_EVERY
    assert db.expired_keys == batches * ACTIVE_EXPIRE_BATCH
    assert len(db) == 10_010 - batches * ACTIVE_EXPIRE_BATCH
    assert timer.reads == reads


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_the_cycle_goes_on_until_no_expired_keys_are_left(
    make: Callable[[FakeClock], Keyspace],
) -> None:
    db, _ = loaded(make, due=5_000, later=100)
    assert db.active_expire_cycle(1.0, StepTimer(0.0)) is False
    assert db.expired_keys == 5_000
    assert len(db) == 100
    assert db.used_memory == loaded(make, due=0, later=100)[0].used_memory


def test_few_expired_keys_cost_one_batch() -> None:
    db, _ = loaded(MAKERS["plain"], due=2, later=1_000)
    timer = StepTimer(0.001)
    assert db.active_expire_cycle(0.025, timer) is False
    assert db.expired_keys == 2
    assert timer.reads == 1  # only the start: the first batch found under a tenth expired


def test_a_low_share_of_expired_keys_ends_the_cycle() -> None:
    # Deadlines re-armed to later leave stale heap entries that are due: a batch of them holds
    # few expired keys, and the cycle stops there (the next one continues).
    clock = FakeClock()
    db = Keyspace(clock=clock)
    for i in range(200):
        db.set(b"rearmed%d" % i, b"v", clock.now + 5)
        db.expire_at(b"rearmed%d" % i, clock.now + 1_000_000)
    for i in range(100):
        db.set(b"due%d" % i, b"v", clock.now + 6)
    clock.now += 10
    assert db.active_expire_cycle(1.0, StepTimer(0.0)) is False
    assert db.expired_keys == 0
    assert db.expire_cycle(max_keys=1_000) == 100


def test_the_time_slice_bounds_each_cycle_until_all_are_gone() -> None:
    db, _ = loaded(MAKERS["plain"], due=3_000, later=0)
    cycles = 0
    while db.active_expire_cycle(0.0015, StepTimer(0.001)):
        cycles += 1
        assert db.expired_keys == cycles * 2 * ACTIVE_EXPIRE_TIMER_EVERY * ACTIVE_EXPIRE_BATCH
    assert len(db) == 0
    assert db.used_memory == 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_keys_expiring_together_are_reclaimed_without_reads(
    server_factory: Callable[..., ServerProcess], variant: str
) -> None:
    """200,000 keys expiring at once are all reclaimed by the cycle alone. At the rate of a
    fixed 200 keys per cycle (2,000 a second) this would take over 100 s."""
    server = server_factory("--no-persist", *VARIANTS[variant])
    count = 200_000
    with kvstore.Client(server.address) as client:
        # Loading takes a second or two; a key set after the deadline is simply not stored.
        deadline = str(int(time.time() * 1000) + 5_000)
        for start in range(0, count, 10_000):
            pipe = client.pipeline()
            for i in range(start, start + 10_000):
                pipe.execute_command("SET", f"k{i}", "v", "PXAT", deadline)
            pipe.execute()
        client.execute_command("SET", "kept", "v")
        wait_for(lambda: client.execute_command("DBSIZE") == 1, 60.0, "expired keys reclaimed")
        assert b"db0:keys=1,expires=0" in client.execute_command("INFO", "keyspace")
        assert client.execute_command("GET", "kept") == b"v"
