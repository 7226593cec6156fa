"""A node's part in a cluster whose metadata lives in etcd: it reads the topology document,
follows every change to it (and to the shards' leader keys) into its
:class:`~kvstore.cluster.view.TopologyView`, and, as a shard's primary, holds the shard's
leader key, accepting writes only while its lease is renewed in time.

Two threads of its own do the waiting (etcd's calls block); the view changes only on the
event loop, between commands (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

from kvstore.cluster import keys
from kvstore.cluster.leadership import RENEW_EVERY, LeaderLease
from kvstore.cluster.metadata import Cancel, Change, MetadataError, MetadataStore
from kvstore.cluster.topology import Topology, TopologyError, from_json
from kvstore.cluster.view import TopologyView

log = logging.getLogger("kvstore.cluster")


class NoTopologyError(MetadataError):
    """etcd holds no topology document for this cluster name."""


@dataclasses.dataclass
class ClusterState:
    """What etcd says: the topology document and each shard's epoch (its leader key's create
    revision), as of ``revision``."""

    document: Topology
    epochs: dict[str, int]
    revision: int

    def topology(self) -> Topology:
        shards = tuple(
            dataclasses.replace(shard, epoch=self.epochs.get(shard.id, shard.epoch))
            for shard in self.document.shards
        )
        return Topology(shards, self.document.version)


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
    epochs = {}
    for key, leader in entries.items():
        shard = keys.shard_of_leader_key(name, key)
        if shard is not None:
            epochs[shard] = leader.create_revision
    return ClusterState(document, epochs, revision)


class EtcdMembership:
    def __init__(
        self, store: MetadataStore, name: str, view: TopologyView, state: ClusterState
    ) -> None:
        self.store, self.name, self.view, self.state = store, name, view, state
        self.lease: LeaderLease | None = None
        self._stopped = threading.Event()
        self._keeper: threading.Thread | None = None
        self._cancel_watch: Cancel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _my_primary_shard(self) -> str | None:
        shard = self.view.my_shard()
        primary = None if shard is None else shard.primary
        if shard is None or primary is None or primary.id != self.view.my_id:
            return None
        return shard.id

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow etcd from the state read at start-up; lead this node's shard if it is its
        primary (the write gate stays closed until it does)."""
        self._loop = loop
        self.view.gate = self._writable
        self._cancel_watch = self.store.watch_prefix(
            keys.prefix(self.name), self.state.revision + 1, self._changed
        )
        self._keep()
        self._keeper = threading.Thread(target=self._keep_running, name="kvstore-leader")
        self._keeper.daemon = True
        self._keeper.start()

    def _writable(self) -> bool:
        lease = self.lease
        return lease is not None and lease.writable

    def _keep(self) -> None:
        """Lead the shard this node is primary of (and only that one)."""
        shard = self._my_primary_shard()
        lease = self.lease
        if lease is not None and (shard is None or lease.key != keys.leader_key(self.name, shard)):
            lease.release()
            self.lease = lease = None
        if shard is None:
            return
        if lease is None:
            lease = LeaderLease(self.store, keys.leader_key(self.name, shard), self.view.my_id)
            self.lease = lease
        lease.step()

    def _keep_running(self) -> None:
        while not self._stopped.wait(RENEW_EVERY):
            self._keep()

    def _changed(self, change: Change) -> None:
        """A change under the cluster's prefix (the watch's thread)."""
        state = self.state
        if change.key == keys.topology_key(self.name) and change.kind == "put":
            try:
                state.document = from_json(change.value)
            except TopologyError as exc:
                log.error("ignoring an unusable topology from etcd: %s", exc)
                return
        else:
            shard = keys.shard_of_leader_key(self.name, change.key)
            if shard is None or change.kind != "put":
                return
            state.epochs[shard] = change.create_revision
        state.revision = change.mod_revision
        topology = state.topology()
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(self.view.update, topology)

    def stop(self) -> None:
        """Stop following etcd and give up the leadership (a successor need not wait)."""
        self._stopped.set()
        if self._cancel_watch is not None:
            self._cancel_watch()
        if self._keeper is not None:
            self._keeper.join(5)
        if self.lease is not None:
            self.lease.release()
        self.view.gate = lambda: False
        self.store.close()
