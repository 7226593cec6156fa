"""Staying under ``--maxmemory``: a keyspace that can pick keys to evict, and the guard that
write commands pass through.

Candidates are sampled, as Redis does: a few keys drawn at random, the best of them by the
policy evicted (least recently read for ``*-lru``, least often read for ``*-lfu``, nearest
deadline for ``volatile-ttl``, any for ``*-random``). Drawing a random key from a dict takes
time proportional to the table, so this keyspace keeps its keys also in a list with each key's
position (:class:`SampledKeys`): drawing is O(1), and adding or removing a key costs a list
append or a swap with the last.

Costs, paid only when ``--maxmemory`` is set: per key, a position entry in a dict, the position
int and two list slots (about 100 bytes; a key with a deadline under a ``volatile-`` policy as
much again); per write of a new key, an append; per read under an ``-lru`` policy, one dict
look-up and one list store (the access time is a coarse clock shared by every key, so no int is
allocated), under an ``-lfu`` policy a little arithmetic and a random draw as well; per write
command, one comparison.

``-lfu`` counts accesses as Redis does: a logarithmic counter of at most 255 (a new key starts
at 5; an access adds one with probability ``1 / ((counter - 5) * 10 + 1)``, Redis's default
``lfu-log-factor``) that loses one for every minute without access (its ``lfu-decay-time``),
kept with the minute it was last decayed.

Memory is estimated, not measured (the resident size lags, and never shrinks when keys go): the
resident size at start-up plus the keyspace's per-entry estimates, calibrated against the
resident size of a filled process. Under eviction churn with small values the process can grow
past the estimate: CPython keeps freed small blocks and dict tables for reuse (see
docs/security.md, "Limits").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import heapq
import os
import random
import sys
import time
from collections.abc import Callable, Iterable

from kvstore.keyspace import Clock, Databases, Keyspace, as_databases, wall_clock_ms

# The policies this module implements; the list is written in a leaf below the configuration,
# which offers it as --maxmemory-policy's choices (see kvstore.keyspace_policies).
from kvstore.keyspace_policies import MAXMEMORY_POLICIES as MAXMEMORY_POLICIES  # noqa: PLC0414

#: The share of a dict's table in the keyspace's per-entry estimate (a filled table's size
#: over its entries, CPython 3.11).
TABLE_SHARE = 52
#: Keys drawn per eviction (Redis's maxmemory-samples default).
SAMPLES = 5
#: A key's share of the sampling list, and of the access-time dict under an ``-lru`` policy
#: (measured as resident size, CPython 3.11).
SAMPLING_PER_KEY = 10
LRU_PER_KEY = 60
#: Under an ``-lfu`` policy each key's counter is an int of its own besides the dict entry.
LFU_PER_KEY = LRU_PER_KEY + 32
#: Redis's LFU: a new key's counter, the default lfu-log-factor and lfu-decay-time (minutes).
LFU_INIT_VAL = 5
LFU_LOG_FACTOR = 10
LFU_DECAY_MINUTES = 1
LFU_MAX = 255


def _per_key(policy: str) -> int:
    if policy.endswith("-lru"):
        return SAMPLING_PER_KEY + LRU_PER_KEY
    if policy.endswith("-lfu"):
        return SAMPLING_PER_KEY + LFU_PER_KEY
    return SAMPLING_PER_KEY


class SampledKeys:
    """Keys to draw random candidates from in O(1): a list that may hold keys since deleted
    (or twice). Adding is an append; a deleted key is dropped only when drawn (a swap with the
    last), and the list is rebuilt from the live keys when it has grown twice too big."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: bytes) -> None:
        self.keys.append(key)

    def draw(self, rng: random.Random, alive: Callable[[bytes], bool]) -> bytes | None:
        """A random key for which ``alive`` holds, or None if there is none."""
        keys = self.keys
        while keys:
            index = rng.randrange(len(keys))
            key = keys[index]
            if alive(key):
                return key
            keys[index] = keys[-1]
            keys.pop()
        return None

    def compact(self, live: Iterable[bytes], live_count: int) -> None:
        if len(self.keys) > live_count + live_count // 4 + 1024:
            self.keys = list(live)


class EvictingKeyspace(Keyspace):
    """A keyspace that knows how to choose keys to evict under ``policy``."""

    def __init__(
        self, policy: str = "noeviction", clock: Clock = wall_clock_ms, seed: int | None = None
    ) -> None:
        super().__init__(clock)
        if policy not in MAXMEMORY_POLICIES:
            raise ValueError(f"unknown maxmemory policy {policy!r}")
        self.policy = policy
        self.volatile_only = policy.startswith("volatile-")
        #: Coarse time of the last access, stamped on keys; advanced by :meth:`expire_cycle`.
        self.lru_clock = clock()
        #: What the key tables' allocations hold beyond the per-entry estimates' share of it
        #: (measured by :meth:`expire_cycle`): under deletes and inserts a table touches all
        #: of its allocation, while a table filled once has touched only what it holds.
        self.table_extra = 0
        self._all = SampledKeys()
        self._volatile = SampledKeys()
        #: Under an ``-lru`` policy: each key's last access (a shared coarse clock value);
        #: under an ``-lfu`` one: its access counter and the minute it was last decayed
        #: (``minute << 8 | counter``).
        self._stamps: dict[bytes, int] = {}
        self._rng = random.Random(seed if seed is not None else os.urandom(8))
        self._lru = policy.endswith("-lru")
        self._lfu = policy.endswith("-lfu")
        #: Keys evicted and not yet taken by the command that made room (see
        #: :func:`kvstore.commands.memory.guarded_table`), which has the log record them as
        #: deletions: the keyspace itself calls no one.
        self.evicted: list[bytes] = []
        self._per_key = _per_key(policy)
        if self._lru:
            self.get = self._get_and_stamp  # type: ignore[method-assign]
        elif self._lfu:
            self.get = self._get_and_count  # type: ignore[method-assign]

    # -- bookkeeping -----------------------------------------------------------------------

    _CONTENTS = (*Keyspace._CONTENTS, "_all", "_volatile", "_stamps", "table_extra")

    def set_policy(self, policy: str) -> None:
        """Change the policy (CONFIG SET maxmemory-policy): the candidates' lists and access
        times or counters it needs are rebuilt or dropped, and their memory counted anew. Keys
        read before the change count as least recently used under a new ``-lru`` policy, and
        as new keys under a new ``-lfu`` one."""
        if policy not in MAXMEMORY_POLICIES:
            raise ValueError(f"unknown maxmemory policy {policy!r}")
        old_per_key = self._per_key
        self.policy = policy
        self.volatile_only = policy.startswith("volatile-")
        was_lfu = self._lfu
        self._lru = policy.endswith("-lru")
        self._lfu = policy.endswith("-lfu")
        self._per_key = _per_key(policy)
        self.used_memory += (self._per_key - old_per_key) * len(self._data)
        self._volatile = SampledKeys()
        if self.volatile_only:
            for key in self._expires:
                self._volatile.add(key)
        if self._lfu != was_lfu or not (self._lru or self._lfu):
            self._stamps.clear()  # an access time is no counter, nor the other way round
        if self._lfu and not was_lfu:
            new = self._minutes() << 8 | LFU_INIT_VAL
            self._stamps = dict.fromkeys(self._data, new)
        if self._lru:
            self.get = self._get_and_stamp  # type: ignore[method-assign]
        elif self._lfu:
            self.get = self._get_and_count  # type: ignore[method-assign]
        elif "get" in self.__dict__:
            del self.get

    def _get_and_stamp(self, key: bytes) -> bytes | None:
        value = Keyspace.get(self, key)
        if value is not None:
            self._stamps[key] = self.lru_clock
        return value

    def _get_and_count(self, key: bytes) -> bytes | None:
        value = Keyspace.get(self, key)
        if value is not None:
            self._count_access(key)
        return value

    def _minutes(self) -> int:
        """Redis's LFU clock: minutes, in 16 bits (from the coarse access clock)."""
        return (self.lru_clock // 60_000) & 0xFFFF

    def _decayed(self, key: bytes) -> int:
        """``key``'s access counter less a point per minute since it was last decayed."""
        packed = self._stamps.get(key)
        if packed is None:
            return LFU_INIT_VAL
        elapsed = (self._minutes() - (packed >> 8)) & 0xFFFF  # the 16-bit clock wraps
        return max(0, (packed & 0xFF) - elapsed // LFU_DECAY_MINUTES)

    def _count_access(self, key: bytes) -> None:
        counter = self._decayed(key)
        if counter < LFU_MAX:
            chance = 1.0 / (max(0, counter - LFU_INIT_VAL) * LFU_LOG_FACTOR + 1)
            if self._rng.random() < chance:
                counter += 1
        self._stamps[key] = self._minutes() << 8 | counter

    def set(self, key: bytes, value: bytes, deadline: int | None = None) -> None:
        if key not in self._data:
            self._all.add(key)
            self.used_memory += self._per_key
            if self._lfu:
                self._stamps[key] = self._minutes() << 8 | LFU_INIT_VAL
        elif self._lfu:
            self._count_access(key)  # an overwrite is an access, as Redis's look-up counts it
        if self._lru:
            self._stamps[key] = self.lru_clock
        super().set(key, value, deadline)

    def _set_deadline(self, key: bytes, deadline: int) -> None:
        if self.volatile_only and key not in self._expires:
            self._volatile.add(key)  # its list is measured in table_slack
        super()._set_deadline(key, deadline)

    def _remove(self, key: bytes) -> None:
        super()._remove(key)
        self.used_memory -= self._per_key
        self._stamps.pop(key, None)

    def clear(self) -> None:
        super().clear()
        self._all = SampledKeys()
        self._volatile = SampledKeys()
        self._stamps.clear()

    def expire_cycle(self, max_keys: int = 200) -> int:
        self._housekeeping()
        return super().expire_cycle(max_keys)

    def active_expire_cycle(
        self, budget: float, timer: Callable[[], float] = time.monotonic
    ) -> bool:
        start = timer()
        self._housekeeping()  # its time counts against the cycle's slice
        return super().active_expire_cycle(budget - (timer() - start), timer)

    def _housekeeping(self) -> None:
        """Once per expiry cycle: the access clock, and tables shrunk back after deletions."""
        self.lru_clock = self.clock()
        self._all.compact(self._data, len(self._data))
        self._volatile.compact(self._expires, len(self._expires))
        # A dict's table never shrinks on deletion: after a mass eviction it would hold its
        # peak size, counted against the limit, and squeeze out the keys that remain. One
        # table per cycle: after a mass expiry all three qualify, and each copy stalls the loop.
        if _oversized(self._data):
            self._data = dict(self._data)
        elif _oversized(self._expires):
            self._expires = dict(self._expires)
        elif _oversized(self._stamps):
            self._stamps = dict(self._stamps)
        self.table_extra = sum(
            max(0, sys.getsizeof(table) - TABLE_SHARE * len(table))
            for table in (self._data, self._expires, self._stamps)
        )
        # Evicted keys leave their deadline in the heap until it is rebuilt: rebuild sooner
        # than the keyspace does, as eviction can leave many.
        if len(self._deadlines) > len(self._expires) + len(self._expires) // 4 + 1024:
            self._drop_stale_deadlines()

    def _drop_stale_deadlines(self) -> None:
        """Rebuild the deadline heap from its live entries, keeping their tuples: building new
        ones would hold two copies at once."""
        expires = self._expires
        heap = [entry for entry in self._deadlines if expires.get(entry[1]) == entry[0]]
        heapq.heapify(heap)
        self._deadlines = heap

    def idle_ms(self, key: bytes) -> int | None:
        """Milliseconds since ``key`` was last read or written, to the access clock's
        resolution (OBJECT IDLETIME); None unless an ``-lru`` policy stamps accesses."""
        stamp = self._stamps.get(key) if self._lru else None
        return None if stamp is None else max(0, self.clock() - stamp)

    def set_idle_ms(self, key: bytes, idle_ms: int) -> None:
        """Make ``key`` look last accessed ``idle_ms`` ago (RESTORE ... IDLETIME), under an
        ``-lru`` policy; otherwise accesses are not tracked and there is nothing to set."""
        if self._lru and key in self._data:
            self._stamps[key] = self.clock() - idle_ms

    def freq(self, key: bytes) -> int | None:
        """``key``'s access counter, decayed (OBJECT FREQ); None unless an ``-lfu`` policy
        counts accesses."""
        return self._decayed(key) if self._lfu and key in self._data else None

    def set_freq(self, key: bytes, freq: int) -> None:
        """Set ``key``'s access counter (RESTORE ... FREQ), under an ``-lfu`` policy."""
        if self._lfu and key in self._data:
            self._stamps[key] = self._minutes() << 8 | min(freq, LFU_MAX)

    # -- eviction --------------------------------------------------------------------------

    def pick_victim(self) -> bytes | None:
        """The key the policy would evict next, or None if no key qualifies."""
        if self.volatile_only:
            pool, alive = self._volatile, self._expires.__contains__
        else:
            pool, alive = self._all, self._data.__contains__
        if self.policy.endswith("-random"):
            return pool.draw(self._rng, alive)
        scores = self._expires if self.policy == "volatile-ttl" else self._stamps
        best: bytes | None = None
        best_score = 0
        for _ in range(SAMPLES):
            key = pool.draw(self._rng, alive)
            if key is None:
                break
            score = self._decayed(key) if self._lfu else scores.get(key, 0)
            if best is None or score < best_score:
                best, best_score = key, score
        return best

    def evict(self, key: bytes) -> None:
        self._remove(key)
        self.evicted_keys += 1
        self.evicted.append(key)
        if self.notify is not None:
            self.notify("evicted", key)


def _oversized(table: dict[bytes, int] | dict[bytes, bytes]) -> bool:
    """Whether a dict's table is four times what its entries need (and worth copying)."""
    allocated = sys.getsizeof(table)
    return allocated > 1024 * 1024 and allocated > 4 * 48 * len(table)


def pin_mmap_threshold() -> None:
    """Keep glibc's malloc serving large blocks (hash tables) with their own mappings.

    By default glibc raises its threshold for that each time such a block is freed, after which
    tables of that size come from the heap and their memory stays in the process when they are
    freed (a resized table leaves its predecessor's size behind for good). Setting the threshold
    turns that adjustment off. Elsewhere than glibc, nothing is done."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def resident_bytes() -> int:
    """The process's resident set size, from ``/proc/self/statm`` (0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class MemoryGuard:
    """Decides, before a write command runs, whether it may: evicts keys under the policy until
    the estimated process memory is under the limit, and says no when that is impossible.

    Estimated process memory = the resident size measured when the server started (the
    interpreter, its modules, the event loop) + the keyspace's ``used_memory`` + the clients'
    buffers (``clients``, kept up to date by the server), as Redis counts them: a client that
    does not read its replies takes room from the keys.
    """

    def __init__(self, dbs: Databases | Keyspace, maxmemory: int, baseline: int) -> None:
        self.dbs = as_databases(dbs)
        self.maxmemory = maxmemory
        self.baseline = baseline
        self.budget = maxmemory - baseline
        self.clients = 0
        #: The keyspaces that can evict: each keeps the keys it evicted (``evicted``) until
        #: the command layer hands them to the log.
        self.keyspaces = [db for db in self.dbs if isinstance(db, EvictingKeyspace)]
        #: Whether any key was evicted since ``evicted`` lists were last emptied.
        self.evicted_any = False
        self._next_db = 0
        #: Told how long (ms) each eviction cycle took: the latency monitor's
        #: ``eviction-cycle`` events (None: nobody listens).
        self.on_cycle: Callable[[int], None] | None = None

    def _keyspaces(self) -> list[EvictingKeyspace]:
        return self.keyspaces

    def set_limit(self, maxmemory: int) -> None:
        """CONFIG SET maxmemory: the next write makes room under the new limit."""
        self.maxmemory = maxmemory
        self.budget = maxmemory - self.baseline

    def set_policy(self, policy: str) -> None:
        for db in self.keyspaces:
            db.set_policy(policy)

    @property
    def policy(self) -> str:
        db = self.dbs[0]
        return db.policy if isinstance(db, EvictingKeyspace) else "noeviction"

    @property
    def table_extra(self) -> int:
        return sum(db.table_extra for db in self._keyspaces())

    def used_memory(self) -> int:
        """The estimated size of the process."""
        return self.baseline + self.dbs.used_memory + self.table_extra + self.clients

    def make_room(self) -> bool:
        """Evict until under the limit; False if still over it (no key may be evicted).

        Every database gives keys: each eviction takes the policy's pick from the next
        database in turn that has a candidate (as Redis's random policies go round the
        databases)."""
        if not self.maxmemory:
            return True  # CONFIG SET maxmemory 0 lifts the limit, as in Redis
        dbs = self.dbs
        budget = self.budget - self.table_extra - self.clients
        used = dbs.used_memory
        if used <= budget:
            return True
        if self.policy == "noeviction":
            return False
        started = time.perf_counter_ns()
        keyspaces = self._keyspaces()
        count = len(keyspaces)
        while used > budget:
            for step in range(count):
                db = keyspaces[(self._next_db + step) % count]
                victim = db.pick_victim() if len(db) else None
                if victim is not None:
                    self._next_db = (self._next_db + step + 1) % count
                    before = db.used_memory
                    db.evict(victim)
                    self.evicted_any = True
                    used -= before - db.used_memory
                    break
            else:
                self._cycle_ended(started)
                return False
        self._cycle_ended(started)
        return True

    def _cycle_ended(self, started_ns: int) -> None:
        if self.on_cycle is not None:
            self.on_cycle((time.perf_counter_ns() - started_ns) // 1_000_000)
