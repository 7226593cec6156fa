"""The table itself: keys to values, expiry deadlines, memory accounting. No I/O.

Expiry works as in Redis: a key past its deadline is never visible (every access checks), and
:meth:`Keyspace.expire_cycle` reclaims expired keys nobody touches, a bounded amount of work at
a time. Deadlines are absolute milliseconds since the Unix epoch, read from an injectable clock,
so tests move time by hand and a log replayed later gives the same table.
"""

from __future__ import annotations

import heapq
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
        # Eviction under --maxmemory (kvstore.eviction): keys removed to make room are counted
        # and reported one by one, so a log of changes can record them as deletions.
        self.evicted_keys = 0
        self.on_evict: Callable[[bytes], None] | None = None

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

    # -- writes --------------------------------------------------------------------------------

    def set(self, key: bytes, value: bytes, deadline: int | None = None) -> None:
        """Store ``value`` under ``key``, replacing any value and any deadline."""
        data = self._data
        old = data.get(key)
        data[key] = value
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
        del self._expires[key]
        self.used_memory -= EXPIRY_OVERHEAD
        return True

    def clear(self) -> None:
        self._data.clear()
        self._expires.clear()
        self._deadlines.clear()
        self.used_memory = 0

    # -- expiry --------------------------------------------------------------------------------

    def expire_cycle(self, max_keys: int = 200) -> int:
        """Delete up to ``max_keys`` keys whose deadline has passed; return how many."""
        now = self.clock()
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
        if len(heap) > 2 * len(expires) + 1024:
            self._rebuild_deadlines()
        return removed

    def _expire_if_due(self, key: bytes) -> bool:
        deadline = self._expires.get(key)
        if deadline is None or deadline > self.clock():
            return False
        self._remove(key)
        self.expired_keys += 1
        return True

    def _set_deadline(self, key: bytes, deadline: int) -> None:
        if key not in self._expires:
            self.used_memory += EXPIRY_OVERHEAD
        self._expires[key] = deadline
        heapq.heappush(self._deadlines, (deadline, key))

    def _rebuild_deadlines(self) -> None:
        self._deadlines = [(deadline, key) for key, deadline in self._expires.items()]
        heapq.heapify(self._deadlines)

    def _remove(self, key: bytes) -> None:
        value = self._data.pop(key)
        self.used_memory -= ENTRY_OVERHEAD + len(key) + len(value)
        if self._expires.pop(key, None) is not None:
            self.used_memory -= EXPIRY_OVERHEAD
