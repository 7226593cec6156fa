"""The metadata store's interface: the few operations of etcd's v3 API cluster mode uses.

Keys and values are bytes. Every change gets the store's next revision; a key remembers the
revision that created it (``create_revision``: a leader key's is its shard's epoch) and the
one that last changed it (``mod_revision``: what compare-and-swap compares). A lease expires
unless kept alive; the keys written under it go with it.

:class:`~kvstore.cluster.etcd.EtcdStore` implements it over etcd's JSON gateway; the tests
have an in-memory one. Every method blocks (network I/O): the server calls them from threads
of their own, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


class MetadataError(Exception):
    """The store cannot be reached or refused the request; the message says which."""


@dataclass(frozen=True)
class Entry:
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int = 0


@dataclass(frozen=True)
class Change:
    """One event of a watch: ``put`` (with the new value) or ``delete``."""

    kind: Literal["put", "delete"]
    key: bytes
    value: bytes
    mod_revision: int
    create_revision: int = 0


@dataclass(frozen=True)
class Compare:
    """One condition of a transaction on ``key``: each field given must equal the key's (an
    absent key has revisions 0 and no value, so a ``value`` condition on it fails)."""

    key: bytes
    create_revision: int | None = None
    mod_revision: int | None = None
    value: bytes | None = None


#: Stops a watch; the callback is not called once it returns.
Cancel = Callable[[], None]


class MetadataStore(Protocol):
    def get(self, key: bytes) -> Entry | None: ...

    def get_prefix(self, prefix: bytes) -> tuple[dict[bytes, Entry], int]:
        """Every key under ``prefix``, and the store's revision when they were read (a watch
        from the next revision misses nothing)."""
        ...

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Set ``key``; returns the revision of the change."""
        ...

    def create(self, key: bytes, value: bytes, lease: int = 0) -> Entry | None:
        """Set ``key`` only if it does not exist (one transaction): the new entry, or None if
        the key existed."""
        ...

    def replace(self, key: bytes, value: bytes, mod_revision: int) -> bool:
        """Set ``key`` only if it was last changed at ``mod_revision`` (compare-and-swap)."""
        ...

    def commit(
        self, conditions: Sequence[Compare], key: bytes, value: bytes, lease: int = 0
    ) -> int | None:
        """Set ``key`` (under ``lease``) only if every condition holds, in one transaction:
        the revision of the change, or None if a condition failed."""
        ...

    def delete(self, key: bytes) -> bool: ...

    def grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; returns its ID."""
        ...

    def keepalive(self, lease: int) -> int:
        """Renew ``lease``; returns its TTL again, or 0 if it had already expired."""
        ...

    def revoke(self, lease: int) -> None:
        """End ``lease`` now (its keys are deleted)."""
        ...

    def watch_prefix(
        self, prefix: bytes, start_revision: int, callback: Callable[[Change], None]
    ) -> Cancel:
        """Call ``callback`` (from another thread) for each change under ``prefix`` from
        ``start_revision`` on, in order."""
        ...

    def close(self) -> None: ...
