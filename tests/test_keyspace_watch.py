"""WATCH at the keyspace level: any change to a watched key marks its watchers, and nothing else
does. The rules are Redis 7's: a key is "changed" when it is written (even to the same value),
deleted, given or stripped of a deadline, flushed while it exists, or reaches its deadline after
the watch began; touching an absent key (DEL, FLUSHDB) or a key that had expired before the watch
is no change."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kvstore.keyspace import Keyspace, Watch
from test_keyspace import FakeClock

KEYS = [b"a", b"b", b"c"]
keys = st.sampled_from(KEYS)
watchers = st.integers(min_value=0, max_value=1)
offsets = st.integers(min_value=-5, max_value=300)


class WatchMachine(RuleBasedStateMachine):
    """Two watchers over three keys; the model says which watcher must be dirty."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.db = Keyspace(clock=self.clock)
        self.model: dict[bytes, int | None] = {}  # live key -> its deadline
        self.watches = [Watch(), Watch()]
        self.watched: list[set[bytes]] = [set(), set()]
        self.dirty = [False, False]

    def _changed(self, key: bytes) -> None:
        for index, keys_watched in enumerate(self.watched):
            if key in keys_watched:
                self.dirty[index] = True

    def _live(self, key: bytes) -> bool:
        return key in self.model

    @rule(ms=st.integers(min_value=0, max_value=200))
    def advance(self, ms: int) -> None:
        self.clock.now += ms
        for key, deadline in list(self.model.items()):
            if deadline is not None and deadline <= self.clock.now:
                del self.model[key]
                self._changed(key)  # expiring after the watch began is a change

    @rule(index=watchers, key=keys)
    def watch(self, index: int, key: bytes) -> None:
        self.db.watch(key, self.watches[index])
        self.watched[index].add(key)

    @rule(index=watchers)
    def unwatch(self, index: int) -> None:
        self.db.unwatch(self.watches[index])
        self.watched[index].clear()
        self.dirty[index] = False

    @rule(key=keys, offset=st.one_of(st.none(), offsets))
    def set(self, key: bytes, offset: int | None) -> None:
        deadline = None if offset is None else self.clock.now + offset
        self.db.set(key, b"v", deadline)
        self._changed(key)
        if deadline is not None and deadline <= self.clock.now:
            self.model.pop(key, None)
        else:
            self.model[key] = deadline

    @rule(key=keys)
    def set_keep_deadline(self, key: bytes) -> None:
        self.db.set_keep_deadline(key, b"w")
        self._changed(key)
        self.model[key] = self.model.get(key)

    @rule(key=keys)
    def delete(self, key: bytes) -> None:
        if self._live(key):
            self._changed(key)
        self.db.delete(key)
        self.model.pop(key, None)

    @rule(key=keys, offset=offsets)
    def expire_at(self, key: bytes, offset: int) -> None:
        deadline = self.clock.now + offset
        if self._live(key):
            self._changed(key)
            if offset <= 0:
                del self.model[key]
            else:
                self.model[key] = deadline
        self.db.expire_at(key, deadline)

    @rule(key=keys)
    def persist(self, key: bytes) -> None:
        if self.model.get(key) is not None:
            self._changed(key)
            self.model[key] = None
        self.db.persist(key)

    @rule()
    def clear(self) -> None:
        for key in self.model:
            self._changed(key)
        self.model.clear()
        self.db.clear()

    @rule(key=keys)
    def reads_change_nothing(self, key: bytes) -> None:
        self.db.get(key)
        self.db.contains(key)
        self.db.deadline(key)
        list(self.db.keys())

    @rule()
    def expire_cycle(self) -> None:
        self.db.expire_cycle(max_keys=10**9)

    @invariant()
    def watchers_are_dirty_exactly_when_a_watched_key_changed(self) -> None:
        for index, watch in enumerate(self.watches):
            assert self.db.watched_key_changed(watch) == self.dirty[index]

    @invariant()
    def no_registration_outlives_its_watch(self) -> None:
        # A dirty watch is dropped from every key: nothing is left to notify.
        expected = set()
        for index, watch in enumerate(self.watches):
            if not watch.dirty:
                expected |= self.watched[index]
        assert self.db.watched_count == len(expected)


WatchMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestWatch = WatchMachine.TestCase


# -- Redis 7's rules for expiry, one by one --------------------------------------------------


def test_a_watched_key_reaching_its_deadline_is_a_change_even_unreclaimed() -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    db.set(b"k", b"v", clock.now + 100)
    watch = Watch()
    db.watch(b"k", watch)
    assert not db.watched_key_changed(watch)
    clock.now += 100
    assert len(db) == 1  # nothing has reclaimed it yet
    assert db.watched_key_changed(watch)


def test_a_key_expired_before_the_watch_is_absent_and_its_reclaiming_no_change() -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    db.set(b"k", b"v", clock.now + 100)
    clock.now += 100
    watch = Watch()
    db.watch(b"k", watch)
    db.expire_cycle()
    db.delete(b"k")
    db.clear()
    assert not db.watched_key_changed(watch)
    db.set(b"k", b"again")
    assert db.watched_key_changed(watch)


def test_flushing_changes_only_watched_keys_that_exist() -> None:
    db = Keyspace()
    db.set(b"present", b"v")
    absent_watch, present_watch = Watch(), Watch()
    db.watch(b"absent", absent_watch)
    db.watch(b"present", present_watch)
    db.clear()
    assert not db.watched_key_changed(absent_watch)
    assert db.watched_key_changed(present_watch)


def test_a_new_key_changes_an_absent_watched_key_even_if_deleted_again() -> None:
    db = Keyspace()
    watch = Watch()
    db.watch(b"k", watch)
    assert not db.delete(b"k")
    assert not db.watched_key_changed(watch)
    db.set(b"k", b"v")
    db.delete(b"k")
    assert db.watched_key_changed(watch)


def test_unwatch_forgets_keys_and_dirt() -> None:
    db = Keyspace()
    watch = Watch()
    db.watch(b"a", watch)
    db.watch(b"b", watch)
    assert db.watched_count == 2
    db.set(b"a", b"1")
    assert watch.dirty
    assert db.watched_count == 0  # a dirty watch is dropped from every key
    db.unwatch(watch)
    assert not watch.dirty
    db.watch(b"a", watch)
    db.unwatch(watch)
    assert db.watched_count == 0
    db.set(b"a", b"2")
    assert not watch.dirty
