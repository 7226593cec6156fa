"""One database's table: keys to values, expiry deadlines, memory accounting. No I/O.

Compiled in the compiled build (``keyspace_core.pxd``: :class:`Keyspace` an extension type with
C fields); everything else takes it from :mod:`kvstore.keyspace`, which chooses the build.

Expiry works as in Redis: a key past its deadline is never visible (every access checks), and
:meth:`Keyspace.expire_cycle` reclaims expired keys nobody touches, a bounded amount of work at
a time. Deadlines are absolute milliseconds since the Unix epoch, read from an injectable clock,
so tests move time by hand and a log replayed later gives the same table.

WATCH: a :class:`Watch` registered on keys is marked dirty when any of them changes (written,
deleted, given or stripped of a deadline, expired, flushed). Every change to ``_data`` or
``_expires`` goes through :meth:`Keyspace.set`, :meth:`Keyspace.persist`,
:meth:`Keyspace.clear`, ``_set_deadline`` or ``_remove``, which tell the watchers; a new
primitive that writes those dicts itself must call ``_key_changed`` too. With nobody watching
that costs one truth test of an empty dict.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterator

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


#: Estimated bytes a key/value pair costs beyond its payloads: two bytes objects' headers and
#: the dict slot, index and spare capacity. Calibrated against the process's resident size
#: (CPython 3.11, 64-bit: 140-165 bytes measured, depending on how full the dict's table is).
ENTRY_OVERHEAD = 148
#: Estimated bytes for a key's deadline: the expiry dict slot, an int and a heap entry.
EXPIRY_OVERHEAD = 150

#: The active expiry cycle deletes due keys in batches of this many (Redis samples 20 keys a
#: loop) and goes on while a batch finds more than this percent of its keys expired.
ACTIVE_EXPIRE_BATCH = 20
ACTIVE_EXPIRE_STALE_PERCENT = 10
#: Batches between two looks at the time budget: about 80 keys, well within the fast cycle.
ACTIVE_EXPIRE_TIMER_EVERY = 4


class Watch:
    """The keys one client WATCHes, in whichever databases; ``dirty`` once any of them has
    changed since.

    A dirty watch is dropped from every key it watched: later changes cannot undo it.
    """

    __slots__ = ("by_db", "dirty")

    def __init__(self) -> None:
        #: The watched keys of each database (a client may WATCH, SELECT, WATCH again).
        self.by_db: dict[Keyspace, set[bytes]] = {}
        self.dirty = False

    @property
    def keys(self) -> set[bytes]:
        """Every watched key, whatever its database."""
        return set().union(*self.by_db.values())


class Keyspace:
    """One database: a dict of byte-string keys to byte-string values.

    Every method that reads a key first drops it if it has expired, so callers never see a
    stale value and need not think about expiry.
    """

    def __init__(self, clock: Clock = wall_clock_ms) -> None:
        self.clock = clock
        self._data: dict[bytes, bytes] = {}
        self._expires: dict[bytes, int] = {}
        # (deadline, key) for the active expiry cycle; entries whose key has since changed its
        # deadline are stale and skipped.
        self._deadlines: list[tuple[int, bytes]] = []
        self.used_memory = 0
        self.hits = 0
        self.misses = 0
        self.expired_keys = 0
        #: Watched key -> the watches on it; empty when nobody watches (the usual case).
        self._watchers: dict[bytes, set[Watch]] = {}
        #: Changes so far (sets, deletions, deadlines): the log skips commands that changed
        #: nothing, and INFO counts changes since the last snapshot.
        self.dirty = 0
        #: Keys removed to make room under --maxmemory (kvstore.eviction).
        self.evicted_keys = 0
        #: Told ``("expired", key)`` when a key reaches its deadline and is removed (and
        #: ``("evicted", key)`` by the evicting keyspace): keyspace notifications, set only
        #: while they are on.
        self.notify: Callable[[str, bytes], None] | None = None
        #: This database's number (SELECT); a keyspace keeps its number for good (SWAPDB
        #: exchanges contents, not numbers), so a session may hold the keyspace itself.
        self.index = 0
        #: ``dirty`` as the log last recorded this database (kvstore.persistence.journal).
        self.logged = 0
        #: CLIENT PAUSE is on: an expired key reads as missing but stays (no deletion, no
        #: count, no notification) until the pause ends, as in Redis.
        self.expiry_paused = False

    def __len__(self) -> int:
        return len(self._data)

    @property
    def volatile_count(self) -> int:
        """Keys that have a deadline."""
        return len(self._expires)

    # -- reads ---------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, counting a hit or a miss."""
        value = self._data.get(key)
        if value is None or (self._expires and self._expire_if_due(key)):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def contains(self, key: bytes) -> bool:
        if key not in self._data:
            return False
        return not (self._expires and self._expire_if_due(key))

    def holds(self, key: bytes) -> bool:
        """Whether the table holds ``key``, due or not: unlike :meth:`contains`, never expires
        it (what a command just stored must not expire before its own events are sent)."""
        return key in self._data

    def deadline(self, key: bytes) -> int | None:
        """The key's absolute deadline in ms, or None if it has none (or does not exist)."""
        if not self.contains(key):
            return None
        return self._expires.get(key)

    def keys(self) -> Iterator[bytes]:
        """Every live key (a snapshot: the table may change while it is consumed)."""
        now = self.clock()
        expires = self._expires
        for key in list(self._data):
            deadline = expires.get(key)
            if deadline is None or deadline > now:
                yield key

    def entry(self, key: bytes) -> tuple[bytes, int | None] | None:
        """The live value and deadline of ``key``, without counting a hit or a miss."""
        value = self._data.get(key)
        if value is None or (self._expires and self._expire_if_due(key)):
            return None
        return value, self._expires.get(key)

    def items(self) -> Iterator[tuple[bytes, bytes, int | None]]:
        """Every (key, value, deadline) stored, expired or not, for a snapshot. The table must
        not change while this is consumed (a forked child's copy, or within one callback)."""
        expires = self._expires
        for key, value in self._data.items():
            yield key, value, expires.get(key)

    # -- writes --------------------------------------------------------------------------------

    def set(self, key: bytes, value: bytes, deadline: int | None = None) -> None:
        """Store ``value`` under ``key``, replacing any value and any deadline."""
        if self._watchers:
            self._key_changed(key)
        data = self._data
        old = data.get(key)
        data[key] = value
        self.dirty += 1
        if old is None:
            self.used_memory += ENTRY_OVERHEAD + len(key) + len(value)
        else:
            self.used_memory += len(value) - len(old)
        if deadline is not None:
            self._set_deadline(key, deadline)
        elif self._expires and key in self._expires:
            del self._expires[key]
            self.used_memory -= EXPIRY_OVERHEAD

    def set_keep_deadline(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key`` and keep the key's deadline, if it has one."""
        deadline = self.deadline(key)
        self.set(key, value, deadline)

    def swap_equal(self, key: bytes, value: bytes) -> None:
        """Hold ``value`` under ``key`` in place of an equal value object: no change to the
        table (nothing to log, no watcher told), only which object holds the bytes."""
        if self._data.get(key) == value:
            self._data[key] = value

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; return whether it existed (an expired key did not)."""
        if not self.contains(key):
            return False
        self._remove(key)
        return True

    def expire_at(self, key: bytes, deadline: int) -> bool:
        """Give an existing key a deadline; a deadline already past deletes it."""
        if not self.contains(key):
            return False
        if deadline <= self.clock():
            self._remove(key)
        else:
            self._set_deadline(key, deadline)
        return True

    def persist(self, key: bytes) -> bool:
        """Remove the key's deadline; return whether it had one."""
        if not self.contains(key) or key not in self._expires:
            return False
        if self._watchers:
            self._key_changed(key)
        del self._expires[key]
        self.used_memory -= EXPIRY_OVERHEAD
        self.dirty += 1
        return True

    def clear(self) -> None:
        if self._watchers:
            # Only keys that exist change (as Redis: flushing leaves an absent key absent).
            for key in [key for key in self._watchers if key in self._data]:
                self._key_changed(key)
        self.dirty += 1
        self._data.clear()
        self._expires.clear()
        self._deadlines.clear()
        self.used_memory = 0

    #: What SWAPDB exchanges between two keyspaces: their contents, not their counters.
    _CONTENTS: tuple[str, ...] = ("_data", "_expires", "_deadlines", "used_memory")

    def swap_contents(self, other: Keyspace) -> None:
        """Exchange every key (values, deadlines) with ``other``, as SWAPDB does. Watchers of a
        key that exists in either database see it change, as in Redis."""
        for db in (self, other):
            if db._watchers:
                for key in [key for key in db._watchers if key in self._data or key in other._data]:
                    db._key_changed(key)
        for name in self._CONTENTS:
            mine = getattr(self, name)
            setattr(self, name, getattr(other, name))
            setattr(other, name, mine)
        self.dirty += 1
        other.dirty += 1

    # -- whole-table access (RENAME, COPY, RANDOMKEY, SCAN) --------------------------------------

    def peek(self, key: bytes) -> bytes | None:
        """The value of ``key`` without counting a hit or a miss (a write command's look-up)."""
        return self._data.get(key) if self.contains(key) else None

    def rename(self, source: bytes, target: bytes) -> bool:
        """Move ``source``'s value and deadline to ``target``, replacing whatever ``target``
        held; return whether ``source`` existed. Done as a delete and a set, so anything that
        watches those sees both keys change."""
        value = self.peek(source)
        if value is None:
            return False
        deadline = self._expires.get(source)
        self.delete(source)
        self.set(target, value, deadline)
        return True

    def random_key(self, choose: Callable[[int], int] = random.randrange) -> bytes | None:
        """A uniformly chosen live key, or None if there is none.

        Skipping to a random position of the dict costs O(position) at C speed (about 10 ns a
        key): no copy of the key list. An expired key found there is reclaimed and the draw
        repeated; after a few misses every expired key is reclaimed at once, so a table of
        mostly expired keys costs one sweep, not one draw per key.
        """
        misses = 0
        while self._data:
            key = next(itertools.islice(self._data, choose(len(self._data)), None))
            if not (self._expires and self._expire_if_due(key)):
                return key
            misses += 1
            if misses >= 8:
                if self.expiry_paused:  # nothing may be reclaimed: look through the keys
                    return next(self.keys(), None)
                self.expire_cycle(max_keys=len(self._data))
        return None

    def key_snapshot(self) -> list[bytes]:
        """Every key in table order, expired ones not yet reclaimed included: a plain copy at
        C speed for iterations that must not see the table move (SCAN). Check ``contains``
        before handing a key out."""
        return list(self._data)

    # -- expiry --------------------------------------------------------------------------------

    def expire_cycle(self, max_keys: int = 200) -> int:
        """Delete up to ``max_keys`` keys whose deadline has passed; return how many."""
        removed = self._expire_due(self.clock(), max_keys)
        self._trim_deadlines()
        return removed

    def active_expire_cycle(
        self, budget: float, timer: Callable[[], float] = time.monotonic
    ) -> bool:
        """Reclaim expired keys for at most about ``budget`` seconds of ``timer``, in batches,
        as long as a batch finds more than a tenth of its keys expired (Redis's
        activeExpireCycle): little work when few keys are due, a whole time slice when many
        are. True if the time ran out with expired keys left (the caller may come back soon)."""
        start = timer()
        now = self.clock()
        batches = 0
        timed_out = False
        while True:
            removed = self._expire_due(now, ACTIVE_EXPIRE_BATCH)
            if removed * 100 <= ACTIVE_EXPIRE_BATCH * ACTIVE_EXPIRE_STALE_PERCENT:
                break
            batches += 1
            if batches % ACTIVE_EXPIRE_TIMER_EVERY == 0 and timer() - start >= budget:
                timed_out = True
                break
        self._trim_deadlines()
        return timed_out

    def _expire_due(self, now: int, max_keys: int) -> int:
        """Delete up to ``max_keys`` keys whose deadline is ``now`` or before; return how many."""
        heap = self._deadlines
        expires = self._expires
        removed = 0
        examined = 0
        while heap and heap[0][0] <= now and examined < 4 * max_keys and removed < max_keys:
            deadline, key = heapq.heappop(heap)
            examined += 1
            if expires.get(key) == deadline:
                self._remove(key)
                self.expired_keys += 1
                removed += 1
                if self.notify is not None:
                    self.notify("expired", key)
        return removed

    def _trim_deadlines(self) -> None:
        if len(self._deadlines) > 2 * len(self._expires) + 1024:
            self._rebuild_deadlines()

    def _expire_if_due(self, key: bytes) -> bool:
        deadline = self._expires.get(key)
        if deadline is None or deadline > self.clock():
            return False
        if self.expiry_paused:
            return True
        self._remove(key)
        self.expired_keys += 1
        if self.notify is not None:
            self.notify("expired", key)
        return True

    def _set_deadline(self, key: bytes, deadline: int) -> None:
        if self._watchers:
            self._key_changed(key)
        if key not in self._expires:
            self.used_memory += EXPIRY_OVERHEAD
        self._expires[key] = deadline
        self.dirty += 1
        heapq.heappush(self._deadlines, (deadline, key))

    def _rebuild_deadlines(self) -> None:
        self._deadlines = [(deadline, key) for key, deadline in self._expires.items()]
        heapq.heapify(self._deadlines)

    def _remove(self, key: bytes) -> None:
        if self._watchers:
            self._key_changed(key)
        value = self._data.pop(key)
        self.dirty += 1
        self.used_memory -= ENTRY_OVERHEAD + len(key) + len(value)
        if self._expires.pop(key, None) is not None:
            self.used_memory -= EXPIRY_OVERHEAD

    # -- WATCH ---------------------------------------------------------------------------------

    @property
    def watched_count(self) -> int:
        """Keys at least one client watches."""
        return len(self._watchers)

    def watch(self, key: bytes, watch: Watch) -> None:
        """Mark ``watch`` dirty as soon as ``key`` changes.

        A key already past its deadline is dropped first: it was gone when the watch began, so
        its removal is no change to this watcher (but is one to those who watched it alive).
        """
        self.contains(key)
        if watch.dirty:
            return
        keys = watch.by_db.get(self)
        if keys is None:
            keys = watch.by_db[self] = set()
        elif key in keys:
            return
        keys.add(key)
        watchers = self._watchers.get(key)
        if watchers is None:
            self._watchers[key] = {watch}
        else:
            watchers.add(watch)

    def unwatch(self, watch: Watch) -> None:
        """Stop watching every key of ``watch`` (in every database) and forget whether it was
        dirty."""
        _drop_watch(watch)
        watch.dirty = False

    def watched_key_changed(self, watch: Watch) -> bool:
        """Whether a key of ``watch`` (in any database) changed; a key that reached its
        deadline counts, even if nothing has reclaimed it yet."""
        for db, keys in list(watch.by_db.items()):
            for key in list(keys):
                db.contains(key)  # expires the key if due, which marks the watch
        return watch.dirty

    def _key_changed(self, key: bytes) -> None:
        watchers = self._watchers.pop(key, None)
        if watchers is None:
            return
        for watch in watchers:
            watch.dirty = True
            keys = watch.by_db.get(self)
            if keys is not None:
                keys.discard(key)
            _drop_watch(watch)


def _drop_watch(watch: Watch) -> None:
    """Unregister ``watch`` from every key it watches, in every database."""
    for db, keys in watch.by_db.items():
        watchers_of = db._watchers
        for key in keys:
            watchers = watchers_of.get(key)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del watchers_of[key]
    watch.by_db.clear()
