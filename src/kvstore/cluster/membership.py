"""A node's part in a cluster whose metadata lives in etcd: it reads the topology document,
follows every change to it (and to the shards' leader keys) into its
:class:`~kvstore.cluster.view.TopologyView`, and runs its shard's failover
(:class:`~kvstore.cluster.failover.ShardKeeper`): it leads the shard, accepting writes only
while its lease is renewed in time, or follows the node that does.

Two threads of its own do the waiting (etcd's calls block); the view changes only on the
event loop, between commands (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from kvstore.cluster import keys
from kvstore.cluster.failover import ShardKeeper
from kvstore.cluster.metadata import Cancel, Change, MetadataError, MetadataStore
from kvstore.cluster.replicas import ShardReplication
from kvstore.cluster.topology import Shard, Topology, TopologyError, from_json
from kvstore.cluster.view import TopologyView

log = logging.getLogger("kvstore.cluster")


class NoTopologyError(MetadataError):
    """etcd holds no topology document for this cluster name."""


@dataclasses.dataclass
class ClusterState:
    """What etcd says: the topology document, each shard's epoch (its leader key's create
    revision), its leader (the node its leader key names; the last one while the key is
    free) and failover requests, as of ``revision``."""

    document: Topology
    epochs: dict[str, int]
    revision: int
    leaders: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Shards whose leader key exists now.
    led: set[str] = dataclasses.field(default_factory=set)
    requests: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def topology(self) -> Topology:
        """The document with each shard's epoch, and its leader as its primary."""
        return Topology(
            tuple(self._shard(shard) for shard in self.document.shards), self.document.version
        )

    def _shard(self, shard: Shard) -> Shard:
        epoch = self.epochs.get(shard.id, shard.epoch)
        leader = self.leaders.get(shard.id)
        if leader is None or all(member.id != leader for member in shard.members):
            return dataclasses.replace(shard, epoch=epoch)
        members = tuple(
            dataclasses.replace(member, role="primary" if member.id == leader else "replica")
            for member in shard.members
        )
        return dataclasses.replace(shard, epoch=epoch, members=members)

    def leader(self, shard_id: str) -> str | None:
        """The node holding the shard's leader key now (None: it is free)."""
        return self.leaders.get(shard_id) if shard_id in self.led else None

    def record(self, shard_id: str, kind: str, change: Change) -> None:
        if kind == "leader":
            if change.kind == "put":
                self.epochs[shard_id] = change.create_revision
                self.leaders[shard_id] = change.value.decode()
                self.led.add(shard_id)
            else:
                self.led.discard(shard_id)
        elif kind == "failover":
            if change.kind == "put":
                self.requests[shard_id] = change.value
            else:
                self.requests.pop(shard_id, None)


def read_state(store: MetadataStore, name: str) -> ClusterState:
    """The cluster's state in etcd (NoTopologyError if it has no topology document)."""
    entries, revision = store.get_prefix(keys.prefix(name))
    entry = entries.get(keys.topology_key(name))
    if entry is None:
        raise NoTopologyError(
            f"etcd has no topology at {keys.topology_key(name).decode()} "
            "(create one with kvstore-cluster create)"
        )
    try:
        document = from_json(entry.value)
    except TopologyError as exc:
        raise MetadataError(f"the topology in etcd is unusable: {exc}") from None
    state = ClusterState(document, {}, revision)
    for key, found in entries.items():
        shard = keys.shard_key(name, key)
        if shard is not None:
            change = Change("put", key, found.value, found.mod_revision, found.create_revision)
            state.record(*shard, change)
    return state


#: Seconds between two rounds of the keeper (a change in etcd wakes it at once).
STEP_EVERY = 0.2
#: Seconds the keeper waits for the event loop to run one of its calls.
LOOP_TIMEOUT = 10.0
#: Seconds between two direct reads of this node's shard's leader key: a watch whose stream
#: went silent without breaking (nothing tells it from a quiet one) must not hold a failover up.
LEADER_CHECK_EVERY = 1.0


class EtcdMembership:
    def __init__(
        self,
        store: MetadataStore,
        name: str,
        view: TopologyView,
        state: ClusterState,
        *,
        sync_replicas: int = 1,
        persists: bool = True,
    ) -> None:
        self.store, self.name, self.view, self.state = store, name, view, state
        self.sync_replicas = sync_replicas
        #: Whether this node's data outlives a restart (else it starts with none).
        self.persists = persists
        self.keeper: ShardKeeper | None = None
        self.replication: ShardReplication | None = None
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._cancel_watch: Cancel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_leader_check = 0.0

    def attach(self, replication: ShardReplication) -> None:
        """The replication this node's failover drives (the server's assembly hands it in)."""
        self.replication = replication

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow etcd from the state read at start-up: lead this node's shard if it may,
        else follow its leader (the write gate stays closed until this node leads)."""
        self._loop = loop
        replication = self.replication
        assert replication is not None, "attach() the replication first"
        keeper = ShardKeeper(
            self.store,
            self.name,
            self.view.my_id,
            replication,
            sync_replicas=self.sync_replicas,
            fresh_since=None if self.persists else self.state.revision,
        )
        self.keeper = keeper
        self.view.gate = lambda: keeper.writable
        replication.announce_node_id(self.view.my_id)
        self._cancel_watch = self.store.watch_prefix(
            keys.prefix(self.name), self.state.revision + 1, self._changed
        )
        self._step()  # on the loop: its calls run at once, before any client is served
        keeper.on_loop = self._on_loop
        self._thread = threading.Thread(target=self._keep_running, name="kvstore-leader")
        self._thread.daemon = True
        self._thread.start()

    def _on_loop(self, fn: Callable[[], object]) -> object:
        loop = self._loop
        assert loop is not None
        future: concurrent.futures.Future[object] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the keeper's thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(LOOP_TIMEOUT)

    def _step(self) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        shard = self._my_shard()
        state = self.state
        if shard is None:
            keeper.step(None, None, None)
            return
        self._check_leader(shard)
        keeper.step(shard, state.leader(shard.id), state.requests.get(shard.id))

    def _check_leader(self, shard: Shard) -> None:
        """Every ``LEADER_CHECK_EVERY`` seconds, read the shard's leader key itself and take
        any difference from what the watch delivered as a change (the watch's own event, when
        it comes, says the same)."""
        now = time.monotonic()
        if now < self._next_leader_check:
            return
        self._next_leader_check = now + LEADER_CHECK_EVERY
        key = keys.leader_key(self.name, shard.id)
        try:
            entry = self.store.get(key)
        except MetadataError:
            return  # the keeper's own calls meet the same trouble, and say so
        state = self.state
        known = state.leader(shard.id)
        if entry is None:
            if known is not None:
                log.warning("shard %s: its leader key is gone, unseen by the watch", shard.id)
                self._changed(Change("delete", key, b"", state.revision))
        elif known != entry.value.decode() or state.epochs.get(shard.id) != entry.create_revision:
            log.warning("shard %s: a leader key the watch did not deliver", shard.id)
            self._changed(
                Change("put", key, entry.value, entry.mod_revision, entry.create_revision)
            )

    def _my_shard(self) -> Shard | None:
        for shard in self.state.document.shards:
            if any(member.id == self.view.my_id for member in shard.members):
                return shard
        return None

    def _keep_running(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(STEP_EVERY)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self._step()
            except Exception:  # keep leading or following whatever one round ran into
                log.exception("cluster: a round of the shard's keeper failed")

    def _changed(self, change: Change) -> None:
        """A change under the cluster's prefix (the watch's thread)."""
        state = self.state
        if change.key == keys.topology_key(self.name):
            if change.kind != "put":
                return
            try:
                state.document = from_json(change.value)
            except TopologyError as exc:
                log.error("ignoring an unusable topology from etcd: %s", exc)
                return
        else:
            found = keys.shard_key(self.name, change.key)
            if found is None:
                return
            state.record(*found, change)
            self._wake.set()
            if found[1] != "leader":
                return
        state.revision = change.mod_revision
        topology = state.topology()
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(self.view.update, topology)

    def stop(self) -> None:
        """Stop following etcd and give up the leadership (a successor need not wait)."""
        self._stopped.set()
        self._wake.set()
        if self._cancel_watch is not None:
            self._cancel_watch()
        if self._thread is not None:
            self._thread.join(LOOP_TIMEOUT + 5)
        if self.keeper is not None:
            self.keeper.resign()
        self.view.gate = lambda: False
        self.store.close()
