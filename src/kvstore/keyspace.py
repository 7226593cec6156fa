"""The keyspace: the numbered databases (:class:`Databases`), each a :class:`Keyspace`.

:class:`Keyspace` itself (the table, expiry, memory accounting, WATCH) is written in
:mod:`kvstore.keyspace_core`; this module takes it, and its helpers, from the build in use
(``kvstore.build.choose``: that module compiled with Cython, or itself), once, so every other
module imports them from here and the whole server uses one class. See docs/builds.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from kvstore import build
from kvstore import keyspace_core as _pure_core

# Plain numbers, the same in both builds (compiled, they are C constants, not attributes).
from kvstore.keyspace_core import (
    ACTIVE_EXPIRE_BATCH,
    ACTIVE_EXPIRE_TIMER_EVERY,
    ENTRY_OVERHEAD,
    EXPIRY_OVERHEAD,
    Clock,
)

if TYPE_CHECKING:  # the two builds' classes have one interface: the pure module's
    from kvstore.keyspace_core import Keyspace, Watch, wall_clock_ms
else:  # the build in use: keyspace_core.py compiled with Cython, or itself
    _core = build.choose(_pure_core)
    Keyspace = _core.Keyspace
    Watch = _core.Watch
    wall_clock_ms = _core.wall_clock_ms

__all__ = [
    "ACTIVE_EXPIRE_BATCH",
    "ACTIVE_EXPIRE_TIMER_EVERY",
    "ENTRY_OVERHEAD",
    "EXPIRY_OVERHEAD",
    "Clock",
    "Databases",
    "Keyspace",
    "Watch",
    "as_databases",
    "wall_clock_ms",
]


class Databases:
    """The numbered databases (SELECT), each a :class:`Keyspace`, and their totals.

    The totals (memory, counters, changes) are sums over the databases, computed when read:
    INFO, the log and the memory guard read them; the request path never does.
    """

    def __init__(self, count: int = 16, make: Callable[[], Keyspace] = Keyspace) -> None:
        if count < 1:
            raise ValueError("at least one database is needed")
        self.dbs: list[Keyspace] = [make() for _ in range(count)]
        for index, db in enumerate(self.dbs):
            db.index = index

    @classmethod
    def with_first(cls, db: Keyspace, count: int = 16) -> Databases:
        """Databases whose number 0 is ``db``, the others new keyspaces on its clock."""
        first: list[Keyspace] = [db]
        return cls(count, lambda: first.pop() if first else Keyspace(db.clock))

    def __len__(self) -> int:
        return len(self.dbs)

    def __getitem__(self, index: int) -> Keyspace:
        return self.dbs[index]

    def __iter__(self) -> Iterator[Keyspace]:
        return iter(self.dbs)

    @property
    def clock(self) -> Clock:
        return self.dbs[0].clock

    @property
    def key_count(self) -> int:
        return sum(len(db) for db in self.dbs)

    @property
    def volatile_count(self) -> int:
        return sum(db.volatile_count for db in self.dbs)

    @property
    def used_memory(self) -> int:
        return sum(db.used_memory for db in self.dbs)

    @property
    def dirty(self) -> int:
        return sum(db.dirty for db in self.dbs)

    @property
    def hits(self) -> int:
        return sum(db.hits for db in self.dbs)

    @property
    def misses(self) -> int:
        return sum(db.misses for db in self.dbs)

    @property
    def expired_keys(self) -> int:
        return sum(db.expired_keys for db in self.dbs)

    @property
    def evicted_keys(self) -> int:
        return sum(db.evicted_keys for db in self.dbs)

    @property
    def watched_count(self) -> int:
        return sum(db.watched_count for db in self.dbs)

    def items(self) -> Iterator[tuple[int, bytes, bytes, int | None]]:
        """Every (database, key, value, deadline) stored, database by database (a snapshot's
        order): see :meth:`Keyspace.items`."""
        for db in self.dbs:
            index = db.index
            for key, value, deadline in db.items():
                yield index, key, value, deadline

    def clear(self) -> None:
        """Empty every database (FLUSHALL)."""
        for db in self.dbs:
            db.clear()

    def pause_expiry(self, paused: bool) -> None:
        """CLIENT PAUSE began (True) or ended: expired keys are kept meanwhile."""
        for db in self.dbs:
            db.expiry_paused = paused

    def swap(self, first: int, second: int) -> None:
        """SWAPDB: exchange two databases' contents (sessions keep their numbers)."""
        if first != second:
            self.dbs[first].swap_contents(self.dbs[second])

    def active_expire_cycle(
        self, budget: float, timer: Callable[[], float] = time.monotonic
    ) -> bool:
        """Each database's active expiry cycle in turn, sharing ``budget``: see
        :meth:`Keyspace.active_expire_cycle`. A database with no deadlines costs little."""
        start = timer()
        timed_out = False
        for db in self.dbs:
            left = budget - (timer() - start)
            if left <= 0:
                return True
            if db.active_expire_cycle(left, timer):
                timed_out = True
        return timed_out


def as_databases(db: Keyspace | Databases) -> Databases:
    """``db`` itself, or for a lone keyspace, databases whose number 0 it is (tools, tests)."""
    return db if isinstance(db, Databases) else Databases.with_first(db)
