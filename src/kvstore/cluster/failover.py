"""A node's part in its shard's failover, Patroni's way: etcd decides, nodes never vote.

The node holding the shard's leader key is its primary; the others follow it. Only a node
named in the shard's sync key (:mod:`kvstore.cluster.sync`) may take the leader key when it
is free, and the leader keeps that key true: it names a replica there only once the replica
holds every acknowledged write (writes are held for it first), and drops one that stopped
acknowledging from etcd *before* it stops holding writes for it. So whoever takes over holds
every write a client was told succeeded.

:meth:`ShardKeeper.step` runs on the membership's thread (etcd's calls block); whatever
touches replication runs on the event loop, through ``on_loop``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from kvstore.cluster import keys
from kvstore.cluster.leadership import LEADER_TTL, RENEW_EVERY, Clock, LeaderLease
from kvstore.cluster.metadata import Compare, MetadataError, MetadataStore
from kvstore.cluster.replicas import ShardReplication
from kvstore.cluster.sync import SyncSet, leader_conditions, parse
from kvstore.cluster.topology import Shard

log = logging.getLogger("kvstore.cluster")

#: Seconds a write may wait for the sync replica before the leader gives up on it (removes it
#: from the sync key, then answers the writes): longer than a replica's acknowledgement takes
#: on a loaded machine, short enough that writes stall only briefly when it dies.
SYNC_TIMEOUT = 2.0
#: A replica keeps up if it acknowledged the offset this node had that many seconds ago
#: (replicas acknowledge once a second while no write waits for them).
KEEP_UP = 2.0
#: Seconds a graceful failover waits for its target to acknowledge everything.
SWITCH_TIMEOUT = 5.0
#: Seconds a leader that handed its shard over leaves the leader key to its successor.
STAND_DOWN = 2.0 * LEADER_TTL

T = TypeVar("T")
OnLoop = Callable[[Callable[[], T]], T]


class ShardKeeper:
    def __init__(
        self,
        store: MetadataStore,
        name: str,
        my_id: str,
        replication: ShardReplication,
        *,
        sync_replicas: int = 1,
        fresh_since: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.store, self.name, self.my_id, self.replication = store, name, my_id, replication
        self.want_sync = sync_replicas
        #: For a node whose data did not outlive its restart (no persistence), the etcd
        #: revision it started at: a sync key older than that names data it no longer has.
        self.fresh_since = fresh_since
        self.clock = clock
        #: Runs a function on the event loop and returns its result (set by the membership).
        self.on_loop: Callable[[Callable[[], object]], object] = lambda fn: fn()
        self.lease: LeaderLease | None = None
        #: The leader is ready: promoted, its sync key written (the write gate's other half).
        self.ready = False
        #: The node this one follows (None: none yet, or it leads).
        self.following: str | None = None
        #: The sync key as this leader last wrote it.
        self.sync: SyncSet | None = None
        #: A replica writes are held for, not yet in the sync key, and the offset it must reach.
        self.candidate: str | None = None
        self.candidate_from = 0
        #: (time, offset) samples, the first one KEEP_UP seconds old (or the oldest).
        self._offsets: deque[tuple[float, int]] = deque()
        #: The replica watched, since when, and the offset it is expected to reach.
        self._progress: tuple[str, float, int] | None = None
        self._fenced = False
        self._stand_down_until = float("-inf")

    @property
    def writable(self) -> bool:
        lease = self.lease
        return self.ready and lease is not None and lease.writable

    def _call(self, fn: Callable[[], T]) -> T:
        return self.on_loop(fn)  # type: ignore[return-value]

    # -- one round ---------------------------------------------------------------------------

    def step(self, shard: Shard | None, leader: str | None, request: bytes | None) -> None:
        """One round for ``shard`` (this node's; None: it has none), whose leader key names
        ``leader`` (None: free), with a failover ``request`` pending (or None)."""
        lease = self.lease
        if lease is not None and (shard is None or lease.key != self._key(shard, "leader")):
            self.resign()
            lease = None
        if shard is None:
            return
        if lease is not None and lease.lease:
            self._lead(shard, lease, request)
            if self.lease is not None:
                return
        self._without_key(shard, leader)

    def _key(self, shard: Shard, kind: str) -> bytes:
        return keys.prefix(self.name) + f"shards/{shard.id}/{kind}".encode()

    # -- leading -----------------------------------------------------------------------------

    def _lead(self, shard: Shard, lease: LeaderLease, request: bytes | None) -> None:
        if self.clock() - lease.renewed_at >= RENEW_EVERY:
            lease.renew()
        if not lease.lease:
            self._deposed()
            return
        if not lease.writable:
            self._fence()
            return
        self._fenced = False
        if not self.ready:
            if not self._write_sync(lease, SyncSet(self.my_id, (self.my_id,))):
                return
            self.ready = True
            log.info("shard %s: primary under epoch %d", shard.id, lease.epoch)
        if request is not None:
            self._switch(shard, lease, request)
            return
        self._keep_sync(shard, lease)

    def _write_sync(self, lease: LeaderLease, sync: SyncSet) -> bool:
        """Set the sync key if this node still leads under its epoch."""
        conditions = leader_conditions(lease.key, lease.epoch, self.my_id)
        key = lease.key.removesuffix(b"leader") + b"sync"
        try:
            done = self.store.commit(conditions, key, sync.to_json())
        except MetadataError as exc:
            log.warning("cannot write the sync key: %s", exc)
            return False
        if done is None:
            log.warning("the sync key was not changed: this node no longer leads")
            return False
        self.sync = sync
        return True

    def _replicas(self, shard: Shard) -> tuple[dict[str, int], int, float | None]:
        """Each replica of the shard connected here and the offset it acknowledged; this
        node's offset; how long the oldest held write has waited."""
        mine = {member.id for member in shard.members if member.id != self.my_id}

        def read() -> tuple[dict[str, int], int, float | None]:
            replication = self.replication
            acked = {n: o for n, o in replication.sync_replicas().items() if n in mine}
            return acked, replication.offset, replication.oldest_held_write()

        return self._call(read)

    def _hold(self, replicas: frozenset[str] | None) -> int:
        """Hold writes for ``replicas``; returns the offset from which they are held."""

        def hold() -> int:
            self.replication.hold_writes_for(replicas)
            return self.replication.offset

        return self._call(hold)

    def _keep_sync(self, shard: Shard, lease: LeaderLease) -> None:
        acked, offset, waited = self._replicas(shard)
        keeping_up = sorted(n for n, o in acked.items() if o >= self._offset_a_while_ago(offset))
        sync = self.sync
        assert sync is not None
        if self.want_sync <= 0:
            # Writes never wait: list the replicas keeping up, which may lack the latest.
            wanted = SyncSet(self.my_id, (self.my_id, *keeping_up))
            if wanted != sync:
                self._write_sync(lease, wanted)
            return
        others = [member for member in sync.members if member != self.my_id]
        watched = others[0] if others else self.candidate
        late = watched is not None and (
            (waited is not None and waited > SYNC_TIMEOUT) or self._stalled(watched, acked, offset)
        )
        if others:
            if late:
                log.warning("shard %s: %s stopped acknowledging", shard.id, ", ".join(others))
                # etcd first: once the replica may no longer take over, writes may go on.
                if self._write_sync(lease, SyncSet(self.my_id, (self.my_id,))):
                    self._hold(None)
            return
        candidate = self.candidate
        if candidate is not None:
            if acked.get(candidate, -1) >= self.candidate_from:
                if self._write_sync(lease, SyncSet(self.my_id, (self.my_id, candidate))):
                    self.candidate = None
                    log.info("shard %s: %s holds every write now", shard.id, candidate)
            elif late or candidate not in acked:
                self._hold(None)
                self.candidate = None
            return
        if keeping_up:
            self.candidate = keeping_up[0]
            # Held from now on, so once it reached this offset it holds every write.
            self.candidate_from = self._hold(frozenset({self.candidate}))

    def _stalled(self, replica: str, acked: dict[str, int], offset: int) -> bool:
        """Whether ``replica`` failed to acknowledge, within SYNC_TIMEOUT, the offset this node
        had when it last made progress (clients that give up on a held write end its hold, so
        the held writes' age alone cannot tell a replica that died)."""
        now, got = self.clock(), acked.get(replica, -1)
        mark = self._progress
        if mark is None or mark[0] != replica or got >= mark[2]:
            self._progress = (replica, now, offset)
            return False
        return now - mark[1] > SYNC_TIMEOUT

    def _offset_a_while_ago(self, offset: int) -> int:
        now, samples = self.clock(), self._offsets
        samples.append((now, offset))
        while len(samples) > 1 and samples[1][0] <= now - KEEP_UP:
            samples.popleft()
        return samples[0][1]

    def _switch(self, shard: Shard, lease: LeaderLease, request: bytes) -> None:
        """A graceful failover: stop writes, let the target catch up, hand the key over."""
        try:
            wanted = json.loads(request).get("to")
        except (ValueError, AttributeError):
            wanted = None
        sync = self.sync
        members = [member.id for member in shard.members if member.id != self.my_id]
        if wanted is None:
            wanted = next((m for m in (sync.members if sync else ()) if m != self.my_id), None)
        if wanted is None:
            acked, _, _ = self._replicas(shard)
            wanted = max(acked, key=acked.__getitem__, default=None)
        done = False
        if wanted in members:
            assert wanted is not None
            done = self._hand_over(shard, lease, wanted)
        else:
            log.warning("shard %s: failover refused: no replica to hand over to", shard.id)
        try:
            self.store.delete(self._key(shard, "failover"))
        except MetadataError as exc:
            log.warning("cannot delete the failover request: %s", exc)
        if done:
            self._stand_down_until = self.clock() + STAND_DOWN
            self.resign()

    def _hand_over(self, shard: Shard, lease: LeaderLease, target: str) -> bool:
        self.ready = False  # the gate closes: no write is accepted from now on
        deadline = self.clock() + SWITCH_TIMEOUT
        while self.clock() < deadline:
            if self.clock() - lease.renewed_at >= RENEW_EVERY and not lease.renew():
                break
            acked, offset, _ = self._replicas(shard)
            if acked.get(target, -1) >= offset:
                if self._write_sync(lease, SyncSet(self.my_id, (self.my_id, target))):
                    log.info("shard %s: handing over to %s", shard.id, target)
                    return True
                break
            time.sleep(0.02)  # the target's acknowledgements arrive on the event loop
        log.warning("shard %s: failover to %s abandoned (not caught up)", shard.id, target)
        self.ready = lease.lease != 0
        return False

    # -- not leading -------------------------------------------------------------------------

    def _without_key(self, shard: Shard, leader: str | None) -> None:
        if leader is not None:
            if leader != self.my_id:
                self._follow(shard, leader)
            return
        if self.clock() < self._stand_down_until:
            return
        conditions = self._may_take(shard)
        if conditions is not None:
            self._take(shard, conditions)

    def _may_take(self, shard: Shard) -> list[Compare] | None:
        """The conditions under which this node may take the free leader key: it is in the
        sync key, unchanged since read (or, with no sync key yet, the document's primary)."""
        key = self._key(shard, "sync")
        try:
            entry = self.store.get(key)
        except MetadataError as exc:
            log.warning("cannot read the sync key of shard %s: %s", shard.id, exc)
            return None
        if entry is None:
            primary = shard.primary
            if primary is None or primary.id != self.my_id:
                return None
            return [Compare(key, create_revision=0)]
        sync = parse(entry.value)
        if sync is None or self.my_id not in sync.members:
            return None
        fresh = self.fresh_since is not None and entry.mod_revision <= self.fresh_since
        if fresh and any(member != self.my_id for member in sync.members):
            return None  # named before this node lost its data: another member has it
        return [Compare(key, mod_revision=entry.mod_revision)]

    def _take(self, shard: Shard, conditions: list[Compare]) -> None:
        lease = LeaderLease(self.store, self._key(shard, "leader"), self.my_id, clock=self.clock)
        try:
            if not lease.acquire(conditions):
                return
        except MetadataError as exc:
            log.warning("cannot take the leadership of shard %s: %s", shard.id, exc)
            return
        self.lease, self.ready, self.sync, self.candidate = lease, False, None, None
        self._offsets.clear()

        def promote() -> None:
            if self.following is not None:
                self.replication.promote()
            self.replication.hold_writes_for(None)

        self._call(promote)
        self.following = None
        self._lead(shard, lease, None)

    def _follow(self, shard: Shard, leader: str) -> None:
        if self.following == leader:
            return
        member = next((m for m in shard.members if m.id == leader), None)
        if member is None:
            return
        self.ready = False

        def follow() -> None:
            self.replication.drop_held_writes()
            self.replication.hold_writes_for(None)
            self.replication.follow(member.host, member.port)

        self._call(follow)
        self.following = leader
        log.info("shard %s: following %s at %s:%d", shard.id, leader, member.host, member.port)

    # -- losing the key ----------------------------------------------------------------------

    def _fence(self) -> None:
        """The lease could not be renewed in time: the gate is closed; writes held now may
        never be acknowledged under this epoch."""
        if self._fenced:
            return
        self._fenced = True
        dropped = self._call(self.replication.drop_held_writes)
        log.warning("leadership lapsed: writes refused (%d held writes dropped)", dropped)

    def _deposed(self) -> None:
        self.lease, self.ready, self.sync, self.candidate = None, False, None, None
        self._fenced = False

        def step_down() -> None:
            self.replication.drop_held_writes()
            self.replication.hold_writes_for(None)

        self._call(step_down)

    def resign(self) -> None:
        """Give the leader key up now (a successor need not wait for the TTL)."""
        lease = self.lease
        self.lease, self.ready, self.sync, self.candidate = None, False, None, None
        if lease is not None:
            lease.release()
