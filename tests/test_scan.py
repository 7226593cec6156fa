"""SCAN's cursors at the keyspace level: Redis's guarantee under a table that changes between
calls, termination, and linear total work."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from command_support import FakeClock
from kvstore.keyspace import Keyspace
from kvstore.keyspace_scan import KeyScanner

KEY_NAMES = [b"k%d" % i for i in range(12)]
keys = st.sampled_from(KEY_NAMES)

deletes = st.tuples(st.just("delete"), keys, st.none())
other_scans = st.tuples(st.just("other scan"), st.none(), st.integers(1, 5))
# Deleting keys and thrashing the snapshot cache are what a wrong cursor design trips on, so
# they are drawn more often than the rest.
steps = st.one_of(
    deletes,
    other_scans,
    deletes,
    other_scans,
    st.tuples(st.just("set"), keys, st.none() | st.integers(1, 50)),
    st.tuples(st.just("expire"), keys, st.integers(-5, 50)),
    st.tuples(st.just("persist"), keys, st.none()),
    st.tuples(st.just("rename"), keys, keys),
    st.tuples(st.just("advance"), st.none(), st.integers(0, 30)),
    st.tuples(st.just("flush"), st.none(), st.none()),
)


class Model:
    """Live keys and their deadlines, and which keys have been live all along."""

    def __init__(self, clock: FakeClock, db: Keyspace) -> None:
        self.clock, self.db = clock, db
        self.deadlines: dict[bytes, int | None] = {}
        self.throughout: set[bytes] = set()

    def forget(self, key: bytes) -> None:
        self.deadlines.pop(key, None)
        self.throughout.discard(key)

    def expire_due(self) -> None:
        for key, deadline in list(self.deadlines.items()):
            if deadline is not None and deadline <= self.clock.now:
                self.forget(key)

    def apply(self, scanner: KeyScanner, step: tuple[str, object, object]) -> None:
        action, key, amount = step
        db, now = self.db, self.clock.now
        if action == "set":
            assert isinstance(key, bytes)
            deadline = None if amount is None else now + int(str(amount))
            db.set(key, b"v", deadline)
            self.deadlines[key] = deadline
        elif action == "delete":
            assert isinstance(key, bytes)
            db.delete(key)
            self.forget(key)
        elif action == "expire":
            assert isinstance(key, bytes)
            if db.expire_at(key, now + int(str(amount))):
                self.deadlines[key] = now + int(str(amount))
            self.expire_due()
        elif action == "persist":
            assert isinstance(key, bytes)
            if db.persist(key):
                self.deadlines[key] = None
        elif action == "rename":
            assert isinstance(key, bytes)
            assert isinstance(amount, bytes)
            if key != amount and key in self.deadlines:
                db.rename(key, amount)
                self.forget(amount)  # replaced: a new value, not present throughout
                self.deadlines[amount] = self.deadlines.pop(key)
                self.throughout.discard(key)
        elif action == "advance":
            self.clock.now += int(str(amount))
            self.expire_due()
        elif action == "other scan":  # competing iterations push ours out of the cache
            scanner.scan(0, int(str(amount)))
        elif action == "flush":
            db.clear()
            self.deadlines.clear()
            self.throughout.clear()


@settings(max_examples=500, deadline=None)
@given(
    initial=st.dictionaries(keys, st.none() | st.integers(1, 60)),
    counts=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    plan=st.lists(st.lists(steps, max_size=4), max_size=20),
    max_snapshots=st.integers(1, 3),
)
def test_a_key_present_throughout_is_returned(
    initial: dict[bytes, int | None],
    counts: list[int],
    plan: list[list[tuple[str, object, object]]],
    max_snapshots: int,
) -> None:
    clock = FakeClock()
    db = Keyspace(clock=clock)
    model = Model(clock, db)
    for key, ttl in initial.items():
        deadline = None if ttl is None else clock.now + ttl
        db.set(key, b"v", deadline)
        model.deadlines[key] = deadline
    model.throughout = set(model.deadlines)
    scanner = KeyScanner(db, max_snapshots=max_snapshots)

    returned: set[bytes] = set()
    cursor, calls = 0, 0
    while True:
        cursor, batch = scanner.scan(cursor, counts[calls % len(counts)])
        assert 0 <= cursor < 2**63
        for key in batch:
            assert key in model.deadlines, "a deleted or expired key was returned"
        returned.update(batch)
        if cursor == 0:
            break
        for step in plan[calls] if calls < len(plan) else []:
            model.apply(scanner, step)
        calls += 1
        # Once the interference stops, what is left of one snapshot finishes the scan.
        assert calls <= len(plan) + len(KEY_NAMES) + 1, "the iteration did not end"
    assert model.throughout <= returned


class CountingKeyspace(Keyspace):
    """Counts the look-ups and table copies a scan makes (a subclass: the compiled keyspace's
    methods cannot be replaced on an instance)."""

    def __init__(self) -> None:
        super().__init__(clock=FakeClock())
        self.lookups = self.copies = 0

    def contains(self, key: bytes) -> bool:
        self.lookups += 1
        return super().contains(key)

    def key_snapshot(self) -> list[bytes]:
        self.copies += 1
        return super().key_snapshot()


def test_a_full_scan_touches_each_key_once_and_copies_the_table_once() -> None:
    db = CountingKeyspace()
    for i in range(5_000):
        db.set(b"key:%d" % i, b"v")
    scanner = KeyScanner(db)
    cursor, seen = scanner.scan(0, 7)
    calls = 1
    while cursor:
        cursor, batch = scanner.scan(cursor, 7)
        seen += batch
        calls += 1
    assert calls == -(-5_000 // 7)
    assert len(set(seen)) == len(seen) == 5_000
    assert (db.lookups, db.copies) == (5_000, 1)
    assert len(scanner) == 0  # a finished iteration drops its snapshot


def test_an_evicted_cursor_starts_over_without_losing_keys() -> None:
    db = Keyspace(clock=FakeClock())
    for i in range(30):
        db.set(b"k%d" % i, b"v")
    scanner = KeyScanner(db, max_snapshots=2)
    cursor, first = scanner.scan(0, 10)
    scanner.scan(0, 1)
    scanner.scan(0, 1)  # our snapshot is now the least recently used of three: evicted
    assert len(scanner) == 2
    db.delete(first[0])
    seen = set(first)
    while cursor:
        cursor, batch = scanner.scan(cursor, 10)
        seen.update(batch)
    assert seen == {b"k%d" % i for i in range(30)}


def test_made_up_cursors_start_a_fresh_iteration() -> None:
    db = Keyspace(clock=FakeClock())
    db.set(b"a", b"v")
    scanner = KeyScanner(db)
    for cursor in (1, 12345, 2**64 - 1, (7 << 32) | 3):
        assert scanner.scan(cursor, 10) == (0, [b"a"])
