"""The keyspace against a model: a plain dict of (value, deadline) and a clock moved by hand."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kvstore.keyspace import ENTRY_OVERHEAD, EXPIRY_OVERHEAD, Keyspace


class FakeClock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


KEYS = [b"", b"a", b"b", b"key:1", b"key:2", b"k" * 40]
keys = st.sampled_from(KEYS)
values = st.one_of(st.just(b""), st.binary(max_size=50))
offsets = st.integers(min_value=-5, max_value=3_000)  # deadline relative to now, in ms


class KeyspaceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.db = Keyspace(clock=self.clock)
        # Live keys only: a key is dropped from the model the moment its deadline passes.
        self.model: dict[bytes, tuple[bytes, int | None]] = {}
        self.hits = 0
        self.misses = 0
        self.expired_seen = 0

    def _forget_expired(self) -> None:
        now = self.clock.now
        self.model = {
            key: (value, deadline)
            for key, (value, deadline) in self.model.items()
            if deadline is None or deadline > now
        }

    # -- time ------------------------------------------------------------------------------

    @rule(ms=st.integers(min_value=0, max_value=2_000))
    def advance(self, ms: int) -> None:
        self.clock.now += ms
        self._forget_expired()

    # -- writes ----------------------------------------------------------------------------

    @rule(key=keys, value=values, offset=st.one_of(st.none(), offsets))
    def set(self, key: bytes, value: bytes, offset: int | None) -> None:
        deadline = None if offset is None else self.clock.now + offset
        self.db.set(key, value, deadline)
        self.model[key] = (value, deadline)
        self._forget_expired()

    @rule(key=keys, value=values)
    def set_keep_deadline(self, key: bytes, value: bytes) -> None:
        self.db.set_keep_deadline(key, value)
        old = self.model.get(key)
        self.model[key] = (value, None if old is None else old[1])

    @rule(key=keys)
    def delete(self, key: bytes) -> None:
        assert self.db.delete(key) == (key in self.model)
        self.model.pop(key, None)

    @rule(key=keys, offset=offsets)
    def expire_at(self, key: bytes, offset: int) -> None:
        deadline = self.clock.now + offset
        assert self.db.expire_at(key, deadline) == (key in self.model)
        if key in self.model:
            if offset <= 0:
                del self.model[key]
            else:
                self.model[key] = (self.model[key][0], deadline)

    @rule(key=keys)
    def persist(self, key: bytes) -> None:
        entry = self.model.get(key)
        had_deadline = entry is not None and entry[1] is not None
        assert self.db.persist(key) == had_deadline
        if entry is not None:
            self.model[key] = (entry[0], None)

    @rule()
    def clear(self) -> None:
        self.db.clear()
        self.model.clear()
        assert self.db.used_memory == 0

    # -- reads -----------------------------------------------------------------------------

    @rule(key=keys)
    def get(self, key: bytes) -> None:
        entry = self.model.get(key)
        assert self.db.get(key) == (None if entry is None else entry[0])
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        assert (self.db.hits, self.db.misses) == (self.hits, self.misses)

    @rule(key=keys)
    def deadline(self, key: bytes) -> None:
        entry = self.model.get(key)
        assert self.db.deadline(key) == (None if entry is None else entry[1])

    # -- expiry cycle ----------------------------------------------------------------------

    @rule(max_keys=st.integers(min_value=1, max_value=3))
    def expire_cycle_bounded(self, max_keys: int) -> None:
        before = len(self.db)
        removed = self.db.expire_cycle(max_keys)
        assert 0 <= removed <= max_keys
        assert len(self.db) == before - removed
        assert len(self.db) >= len(self.model)  # only expired keys went

    @rule()
    def expire_cycle_everything(self) -> None:
        before = len(self.db)
        removed = self.db.expire_cycle(max_keys=10**9)
        assert len(self.db) == len(self.model) == before - removed
        assert self.db.volatile_count == sum(d is not None for _, d in self.model.values())
        assert self.db.used_memory == sum(
            ENTRY_OVERHEAD + len(key) + len(value) + (EXPIRY_OVERHEAD if d is not None else 0)
            for key, (value, d) in self.model.items()
        )

    @precondition(lambda self: self.model)
    @rule()
    def delete_everything(self) -> None:
        for key in list(self.model):
            assert self.db.delete(key)
        self.model.clear()
        self.db.expire_cycle(max_keys=10**9)
        assert len(self.db) == 0
        assert self.db.used_memory == 0

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def expired_keys_are_never_visible(self) -> None:
        assert sorted(self.db.keys()) == sorted(self.model)
        for key in KEYS:
            assert self.db.contains(key) == (key in self.model)

    @invariant()
    def memory_is_accounted(self) -> None:
        assert self.db.used_memory >= 0
        assert (self.db.used_memory == 0) == (len(self.db) == 0)
        assert len(self.db) >= len(self.model)

    @invariant()
    def expired_counter_only_grows(self) -> None:
        assert self.db.expired_keys >= self.expired_seen
        self.expired_seen = self.db.expired_keys


KeyspaceMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestKeyspace = KeyspaceMachine.TestCase


def test_expire_cycle_work_is_bounded_per_call() -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    for i in range(1_000):
        db.set(b"k%d" % i, b"v", clock.now + 10)
    db.set(b"live", b"v", clock.now + 10_000)
    clock.now += 10
    assert db.expire_cycle(max_keys=200) == 200
    assert len(db) == 801
    cycles = 1
    while len(db) > 1:
        assert db.expire_cycle(max_keys=200) <= 200
        cycles += 1
    assert cycles == 5
    assert db.expired_keys == 1_000
    assert db.get(b"live") == b"v"


def test_expire_cycle_skips_stale_deadlines() -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    for _ in range(50):  # the same key re-armed: one live deadline, many stale heap entries
        db.set(b"k", b"v", clock.now + 5)
        db.expire_at(b"k", clock.now + 100_000)
    clock.now += 10
    assert db.expire_cycle() == 0
    assert db.get(b"k") == b"v"
    clock.now += 100_000
    assert db.expire_cycle() == 1
    assert len(db) == 0
    assert db.used_memory == 0


def test_used_memory_returns_to_zero() -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    db.set(b"a", b"1" * 100)
    db.set(b"a", b"2")
    db.set(b"b", b"x", clock.now + 1)
    db.expire_at(b"a", clock.now + 5)
    db.persist(b"a")
    assert db.used_memory > 0
    clock.now += 1
    assert not db.contains(b"b")
    assert db.delete(b"a")
    assert len(db) == 0
    assert db.used_memory == 0
