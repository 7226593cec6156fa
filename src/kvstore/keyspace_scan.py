"""Cursor iteration over a keyspace (SCAN), with Redis's guarantees and plain integer cursors.

Redis promises that a key present from the start to the end of a full iteration is returned
at least once, that a full iteration ends even while the table changes, and that each call
does bounded work. Redis gets there with a reverse-binary cursor over hash buckets; a Python
dict exposes no buckets and no stable positions, so the design here is:

- ``SCAN 0`` takes a *snapshot*: a copy of the key list (one O(n) copy at C speed, the only
  O(n) step of the iteration), filed under a new scan id in a small LRU cache;
- the cursor is ``scan_id << 32 | offset``: which snapshot, and how far into it;
- each call hands out the next ``count`` slots of the snapshot, keeping only keys that are
  live *now*: keys deleted or expired since are filtered out, keys added since are not
  returned (Redis allows both). A key present throughout is in the snapshot and live when
  its slot comes up, so it is returned exactly once. A full iteration of n keys costs O(n);
- the last call of an iteration returns cursor 0 and drops its snapshot;
- a cursor whose snapshot is gone (evicted after more than ``max_snapshots`` other scans were
  used since, or never issued: a made-up number, a server restart) starts the iteration over
  with a fresh snapshot. That keeps the guarantee (duplicates are allowed, omissions are not)
  and only fails to finish if the cache is thrashed between every two calls of one scan.

Scan ids count up from 1 and wrap after 2**31 scans; offsets stay below 2**32. Cursors thus
stay below 2**63, safe for clients that parse them as signed 64-bit integers.
"""

from __future__ import annotations

from collections import OrderedDict

from kvstore.keyspace import Keyspace

OFFSET_BITS = 32
SCAN_ID_LIMIT = 1 << 31


class KeyScanner:
    """The SCAN cursors of one keyspace."""

    def __init__(self, db: Keyspace, max_snapshots: int = 16) -> None:
        self.db = db
        self.max_snapshots = max_snapshots
        self._snapshots: OrderedDict[int, list[bytes]] = OrderedDict()
        self._last_id = 0

    def __len__(self) -> int:
        """How many iterations are in progress (snapshots held)."""
        return len(self._snapshots)

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """The live keys among the next ``count`` slots after ``cursor``, and the cursor to
        continue from (0 once the iteration is complete)."""
        scan_id, offset = cursor >> OFFSET_BITS, cursor & ((1 << OFFSET_BITS) - 1)
        snapshot = self._snapshots.get(scan_id) if cursor else None
        if snapshot is None or offset > len(snapshot):
            scan_id, snapshot, offset = self._start(), self._snapshots[self._last_id], 0
        else:
            self._snapshots.move_to_end(scan_id)
        end = offset + count
        contains = self.db.contains
        keys = [key for key in snapshot[offset:end] if contains(key)]
        if end >= len(snapshot):
            del self._snapshots[scan_id]
            return 0, keys
        return scan_id << OFFSET_BITS | end, keys

    def _start(self) -> int:
        self._last_id = self._last_id % (SCAN_ID_LIMIT - 1) + 1
        self._snapshots.pop(self._last_id, None)
        self._snapshots[self._last_id] = self.db.key_snapshot()
        while len(self._snapshots) > self.max_snapshots:
            self._snapshots.popitem(last=False)
        return self._last_id
