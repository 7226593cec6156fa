"""What cluster mode asks of this node's replication to run a shard's failover: the one
interface between the two layers, which stand side by side (the server's assembly hands
:class:`kvstore.replication.Replication` in). Every call is made on the event loop."""

from __future__ import annotations

from typing import Protocol


class ShardReplication(Protocol):
    @property
    def offset(self) -> int:
        """This node's replication offset (the stream's bytes so far)."""
        ...

    def follow(self, host: str, port: int) -> None:
        """Replicate the primary at ``host:port`` (the shard's leader)."""
        ...

    def promote(self) -> None:
        """Stop following; serve as the primary, continuing the stream (replid2)."""
        ...

    def announce_node_id(self, node_id: str) -> None:
        """Tell primaries this node's ID when it follows them."""
        ...

    def hold_writes_for(self, replicas: frozenset[str] | None) -> None:
        """Hold each write's reply until one of ``replicas`` (node IDs) acknowledged it;
        None: never hold."""
        ...

    def sync_replicas(self) -> dict[str, int]:
        """The offset each connected replica that announced its node ID acknowledged."""
        ...

    def oldest_held_write(self) -> float | None:
        """Seconds the longest-held write reply has waited (None: none held)."""
        ...

    def drop_held_writes(self) -> int:
        """Close the connections of every held write (never to be acknowledged)."""
        ...
