"""A stand-in for this node's replication as cluster mode sees it
(:class:`kvstore.cluster.replicas.ShardReplication`), for unit tests of the failover's
decisions only; tests/test_cluster_failover.py runs the real thing between processes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeReplication:
    offset: int = 0
    #: The primary followed ((host, port)), None while this node is a primary.
    following: tuple[str, int] | None = None
    promotions: int = 0
    node_id: str = ""
    held_for: frozenset[str] | None = None
    #: What sync_replicas() answers: node ID -> acknowledged offset.
    acked: dict[str, int] = field(default_factory=dict)
    #: How long the oldest held write has waited (None: none held).
    waited: float | None = None
    dropped: int = 0

    def follow(self, host: str, port: int) -> None:
        self.following = (host, port)

    def promote(self) -> None:
        self.following = None
        self.promotions += 1

    def announce_node_id(self, node_id: str) -> None:
        self.node_id = node_id

    def hold_writes_for(self, replicas: frozenset[str] | None) -> None:
        self.held_for = replicas

    def sync_replicas(self) -> dict[str, int]:
        return dict(self.acked)

    def oldest_held_write(self) -> float | None:
        return self.waited

    def drop_held_writes(self) -> int:
        self.dropped += 1
        return 0
