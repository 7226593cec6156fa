"""An in-memory metadata store for unit tests only: the semantics of
:class:`kvstore.cluster.metadata.MetadataStore` (revisions, create-if-absent, compare-and-swap,
leases, watches), checked against real etcd by tests/test_cluster_metadata.py. Leases expire
when the test says time has passed (:meth:`FakeStore.advance`), never on a clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kvstore.cluster.metadata import Cancel, Change, Compare, Entry, MetadataError


@dataclass
class _Lease:
    ttl: int
    remaining: float
    keys: set[bytes] = field(default_factory=set)


class FakeStore:
    def __init__(self) -> None:
        self.revision = 1
        self.data: dict[bytes, Entry] = {}
        self.leases: dict[int, _Lease] = {}
        self.watches: list[tuple[bytes, Callable[[Change], None]]] = []
        self.history: list[Change] = []
        #: Set by a test: every call fails as when no etcd member answers.
        self.unreachable = False
        self._next_lease = 100
        self._lock = threading.RLock()

    def _check(self) -> None:
        if self.unreachable:
            raise MetadataError("etcd cannot be reached (fake)")

    def _emit(self, change: Change) -> None:
        self.history.append(change)
        for prefix, callback in list(self.watches):
            if change.key.startswith(prefix):
                callback(change)

    def _set(self, key: bytes, value: bytes, lease: int) -> Entry:
        self.revision += 1
        old = self.data.get(key)
        created = old.create_revision if old is not None else self.revision
        entry = Entry(value, created, self.revision, lease)
        self.data[key] = entry
        if lease:
            if lease not in self.leases:
                raise MetadataError("etcdserver: requested lease not found")
            self.leases[lease].keys.add(key)
        self._emit(Change("put", key, value, self.revision, created))
        return entry

    def _remove(self, key: bytes) -> bool:
        if self.data.pop(key, None) is None:
            return False
        self.revision += 1
        self._emit(Change("delete", key, b"", self.revision))
        return True

    def get(self, key: bytes) -> Entry | None:
        with self._lock:
            self._check()
            return self.data.get(key)

    def get_prefix(self, prefix: bytes) -> tuple[dict[bytes, Entry], int]:
        with self._lock:
            self._check()
            found = {k: v for k, v in self.data.items() if k.startswith(prefix)}
            return found, self.revision

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        with self._lock:
            self._check()
            return self._set(key, value, lease).mod_revision

    def create(self, key: bytes, value: bytes, lease: int = 0) -> Entry | None:
        with self._lock:
            self._check()
            if key in self.data:
                return None
            return self._set(key, value, lease)

    def replace(self, key: bytes, value: bytes, mod_revision: int) -> bool:
        with self._lock:
            self._check()
            entry = self.data.get(key)
            if (0 if entry is None else entry.mod_revision) != mod_revision:
                return False
            self._set(key, value, 0 if entry is None else entry.lease)
            return True

    def commit(
        self, conditions: Sequence[Compare], key: bytes, value: bytes, lease: int = 0
    ) -> int | None:
        with self._lock:
            self._check()
            for condition in conditions:
                entry = self.data.get(condition.key)
                create = 0 if entry is None else entry.create_revision
                mod = 0 if entry is None else entry.mod_revision
                if condition.create_revision not in (None, create):
                    return None
                if condition.mod_revision not in (None, mod):
                    return None
                if condition.value is not None and (
                    entry is None or entry.value != condition.value
                ):
                    return None
            return self._set(key, value, lease).mod_revision

    def delete(self, key: bytes) -> bool:
        with self._lock:
            self._check()
            return self._remove(key)

    def grant(self, ttl: int) -> int:
        with self._lock:
            self._check()
            self._next_lease += 1
            self.leases[self._next_lease] = _Lease(ttl, ttl)
            return self._next_lease

    def keepalive(self, lease: int) -> int:
        with self._lock:
            self._check()
            held = self.leases.get(lease)
            if held is None:
                return 0
            held.remaining = held.ttl
            return held.ttl

    def revoke(self, lease: int) -> None:
        with self._lock:
            self._check()
            self._expire(lease)

    def _expire(self, lease: int) -> None:
        held = self.leases.pop(lease, None)
        if held is not None:
            for key in sorted(held.keys):
                entry = self.data.get(key)
                if entry is not None and entry.lease == lease:
                    self._remove(key)

    def advance(self, seconds: float) -> None:
        """Time passes for the leases: those not kept alive within their TTL expire."""
        with self._lock:
            for lease, held in list(self.leases.items()):
                held.remaining -= seconds
                if held.remaining <= 0:
                    self._expire(lease)

    def watch_prefix(
        self, prefix: bytes, start_revision: int, callback: Callable[[Change], None]
    ) -> Cancel:
        with self._lock:
            self._check()
            for change in self.history:
                if change.mod_revision >= start_revision and change.key.startswith(prefix):
                    callback(change)
            watch = (prefix, callback)
            self.watches.append(watch)

        def cancel() -> None:
            with self._lock:
                if watch in self.watches:
                    self.watches.remove(watch)

        return cancel

    def close(self) -> None:
        pass
