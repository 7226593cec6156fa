"""The topology as one node reads it: the :class:`~kvstore.commands.ports.ClusterView` the
command layer is given. Whoever keeps the topology (start-up, a file, the etcd watcher) calls
:meth:`TopologyView.update`; commands only read, between two event-loop steps, so a command
always sees one whole topology."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kvstore.cluster.topology import Shard, Topology
from kvstore.slots import SLOTS


class TopologyView:
    def __init__(self, topology: Topology, my_id: str) -> None:
        self.my_id = my_id
        #: Whether this node may take writes now (its leadership's write gate); None: always.
        self.gate: Callable[[], bool] | None = None
        self._owners: list[Shard | None] = []
        self._mine: Shard | None = None
        #: Per slot, 1 where this node is the primary of the slot's shard and the slot is not
        #: moving: requests there need no other check (writes still the gate's).
        self.served_here = bytes(SLOTS)
        self.topology = topology
        self.update(topology)

    def update(self, topology: Topology) -> None:
        """Serve ``topology`` from now on (a slot-to-shard table is built once per change)."""
        owners: list[Shard | None] = [None] * SLOTS
        mine = None
        for shard in topology.shards:
            for first, last in shard.slots:
                owners[first : last + 1] = [shard] * (last - first + 1)
            if any(member.id == self.my_id for member in shard.members):
                mine = shard
        served = bytearray(SLOTS)
        primary = None if mine is None else mine.primary
        if mine is not None and primary is not None and primary.id == self.my_id:
            for first, last in mine.slots:
                served[first : last + 1] = b"\x01" * (last - first + 1)
            for slot in (*mine.migrating, *mine.importing):
                served[slot] = 0
        self.topology, self._owners, self._mine = topology, owners, mine
        self.served_here = bytes(served)

    @property
    def writable(self) -> bool:
        gate = self.gate
        return gate is None or gate()

    @property
    def epoch(self) -> int:
        return max((shard.epoch for shard in self.topology.shards), default=0)

    @property
    def shards(self) -> Sequence[Shard]:
        return self.topology.shards

    def owner(self, slot: int) -> Shard | None:
        return self._owners[slot]

    def my_shard(self) -> Shard | None:
        return self._mine
