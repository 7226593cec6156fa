"""A shard's leadership: the leader key, created only if absent under a lease this node keeps
alive, and the write gate that closes on this node's own monotonic clock when it could not
renew in time.

The lease lives ``LEADER_TTL`` seconds from the moment etcd heard of it; this node counts its
own deadline from the moment it *sent* the request (earlier), less a margin, so it stops
accepting writes before etcd could let another node take the key.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from kvstore.cluster.metadata import Compare, MetadataError, MetadataStore

#: Seconds a leader key outlives its holder's last renewal.
LEADER_TTL = 3
#: How often the holder renews.
RENEW_EVERY = 1.0
#: Seconds the write gate closes before the lease could expire: clock rates differ a little,
#: and an etcd leader that lost its quorum still renews leases until it steps down (an
#: election timeout, half a second on loopback), so writes stop within the TTL of the loss.
SAFETY_MARGIN = 1.0

log = logging.getLogger("kvstore.cluster")

Clock = Callable[[], float]


class LeaderLease:
    """This node's claim on ``key``; :attr:`writable` says whether it may take writes now."""

    def __init__(
        self,
        store: MetadataStore,
        key: bytes,
        node_id: str,
        *,
        ttl: int = LEADER_TTL,
        clock: Clock = time.monotonic,
    ) -> None:
        self.store, self.key, self.node_id, self.ttl, self.clock = store, key, node_id, ttl, clock
        self.lease = 0
        #: The shard's epoch while this node leads it (the leader key's create revision).
        self.epoch = 0
        self._valid_until = float("-inf")
        #: When the last renewal (or the acquisition) was sent.
        self.renewed_at = float("-inf")

    @property
    def writable(self) -> bool:
        return self.clock() < self._valid_until

    def _extend(self, sent: float, ttl: int) -> None:
        self._valid_until = sent + ttl - SAFETY_MARGIN

    def acquire(self, conditions: Sequence[Compare] = ()) -> bool:
        """Take the leader key if no one holds it and ``conditions`` hold (one transaction);
        True if this node leads now."""
        sent = self.clock()
        lease = self.store.grant(self.ttl)
        absent = Compare(self.key, create_revision=0)
        epoch = self.store.commit([absent, *conditions], self.key, self.node_id.encode(), lease)
        if epoch is None:
            self.store.revoke(lease)
            return False
        self.lease, self.epoch = lease, epoch
        self.renewed_at = sent
        self._extend(sent, self.ttl)
        log.info("leading %s (epoch %d)", self.key.decode(), self.epoch)
        return True

    def renew(self) -> bool:
        """Keep the lease alive; False (and the gate left to close) if it could not be."""
        if not self.lease:
            return False
        sent = self.clock()
        self.renewed_at = sent
        try:
            ttl = self.store.keepalive(self.lease)
        except MetadataError as exc:
            log.warning("cannot renew the leadership of %s: %s", self.key.decode(), exc)
            return False
        if ttl <= 0:
            log.warning("lost the leadership of %s (its lease expired)", self.key.decode())
            self.lease = self.epoch = 0
            self._valid_until = float("-inf")
            return False
        self._extend(sent, ttl)
        return True

    def step(self) -> None:
        """One round of the keeper: renew while leading, else try to lead."""
        if self.lease:
            self.renew()
            return
        try:
            self.acquire()
        except MetadataError as exc:
            log.warning("cannot take the leadership of %s: %s", self.key.decode(), exc)

    def release(self) -> None:
        """Give the key up now (a clean shutdown), so a successor need not wait for the TTL."""
        self._valid_until = float("-inf")
        if self.lease:
            with contextlib.suppress(MetadataError):  # if not, it expires by itself
                self.store.revoke(self.lease)
            self.lease = 0
