"""Helpers for tests of a cluster whose shards have replicas (no tests of its own): two shards of
primary + replica as ``./server`` processes on loopback, sharing one topology file, and a
client-side history of acknowledged writes checked against every node."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cluster_support import (
    HALVES,
    Node,
    document,
    key_in,
    node_id,
    start_redis_cluster_node,
)
from conftest import ServerProcess, free_port, start_server, wait_for
from kvstore.slots import key_slot
from redis_compare import RawConnection
from replication_support import wait_caught_up
from test_client_support import RedisServer

#: A WAIT on a loaded machine: generous, it only bounds a failure.
WAIT_TIMEOUT = 60.0


@dataclass
class ReplicatedShard:
    """One shard: its slot range, primary and replica."""

    id: str
    first: int
    last: int
    primary: ServerProcess
    replica: ServerProcess
    primary_id: str
    replica_id: str

    def serves(self, key: bytes) -> bool:
        return self.first <= key_slot(key) <= self.last


def _range(shard: str) -> tuple[int, int]:
    ((first, last),) = HALVES[shard]
    return first, last


@contextlib.contextmanager
def replicated_cluster(tmp_path: Path) -> Iterator[list[ReplicatedShard]]:
    """Shards ``a`` and ``b`` (``HALVES``), each a primary and a replica named in one topology
    file; each replica follows its shard's primary by itself (a replica named in a topology
    file replicates the document's primary) and has caught up when this yields. Every node is
    stopped at the end."""
    roles = [("a", "primary"), ("a", "replica"), ("b", "primary"), ("b", "replica")]
    nodes = [
        Node(node_id(index + 1), free_port(), shard, role)
        for index, (shard, role) in enumerate(roles)
    ]
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document(nodes, HALVES)))
    started: list[ServerProcess] = []

    def start(node: Node, *extra: str) -> ServerProcess:
        server = start_server(
            "--no-persist",
            "--cluster-enabled",
            "--cluster-topology-file",
            str(path),
            "--cluster-node-id",
            node.id,
            *extra,
            port=node.port,
        )
        started.append(server)
        return server

    try:
        shards = []
        for primary_node, replica_node in (nodes[0:2], nodes[2:4]):
            primary = start(primary_node)
            replica = start(replica_node)
            first, last = _range(primary_node.shard)
            shards.append(
                ReplicatedShard(
                    primary_node.shard,
                    first,
                    last,
                    primary,
                    replica,
                    primary_node.id,
                    replica_node.id,
                )
            )
        for shard in shards:
            wait_caught_up(shard.primary, shard.replica)
        yield shards
    finally:
        for server in started:
            server.stop()


@dataclass
class RedisShard:
    """One shard of a real Redis cluster: its primary and replica."""

    primary: RedisServer
    replica: RedisServer


def _bus_port(node: RedisServer) -> int:
    args = node.proc.args
    assert isinstance(args, list)
    return int(args[args.index("--cluster-port") + 1])


def _redis_converged(nodes: list[RedisServer]) -> bool:
    for node in nodes:
        conn = RawConnection(node.host, node.port)
        try:
            info = conn.call("CLUSTER", "INFO")
            lines = conn.call("CLUSTER", "NODES")
        finally:
            conn.close()
        assert isinstance(info, bytes)
        assert isinstance(lines, bytes)
        slaves = sum("slave" in line.split()[2].split(",") for line in lines.decode().splitlines())
        if b"cluster_state:ok" not in info or b"cluster_known_nodes:4" not in info or slaves != 2:
            return False
    return True


@contextlib.contextmanager
def redis_replicated_cluster(tmp_path: Path) -> Iterator[list[RedisShard]]:
    """A real Redis cluster of the same shape as ``replicated_cluster``: two primaries sharing
    the slots half and half (``CLUSTER ADDSLOTSRANGE``), each with a replica (``CLUSTER
    REPLICATE``), once every node sees the same four. Stopped at the end."""
    started: list[RedisServer] = []
    try:
        for index in range(4):
            workdir = tmp_path / f"redis-{index}"
            workdir.mkdir()
            started.append(start_redis_cluster_node(workdir))
        a, a_replica, b, b_replica = started
        for primary, shard in ((a, "a"), (b, "b")):
            first, last = _range(shard)
            _redis_call(primary, "CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in started[1:]:
            _redis_call(node, "CLUSTER", "MEET", a.host, a.port, _bus_port(a))
        wait_for(
            lambda: all(
                b"cluster_known_nodes:4" in _as_bytes(_redis_call(n, "CLUSTER", "INFO"))
                for n in started
            ),
            WAIT_TIMEOUT,
            "the Redis nodes to meet",
        )
        for replica, primary in ((a_replica, a), (b_replica, b)):
            primary_id = _as_bytes(_redis_call(primary, "CLUSTER", "MYID"))
            _redis_call(replica, "CLUSTER", "REPLICATE", primary_id)
        wait_for(lambda: _redis_converged(started), WAIT_TIMEOUT, "the Redis cluster to agree")
        # Redis lists a replica in CLUSTER SLOTS only once it has copied something (a
        # replication offset above 0): a write on each primary, acknowledged by its replica.
        for primary, shard in ((a, "a"), (b, "b")):
            _redis_call(primary, "SET", key_in(*_range(shard)), "1")
            assert _redis_call(primary, "WAIT", 1, 0) == 1
        wait_for(lambda: _replicas_listed(started), WAIT_TIMEOUT, "Redis to list the replicas")
        yield [RedisShard(a, a_replica), RedisShard(b, b_replica)]
    finally:
        for node in started:
            node.stop()


def _replicas_listed(nodes: list[RedisServer]) -> bool:
    for node in nodes:
        ranges = _redis_call(node, "CLUSTER", "SLOTS")
        assert isinstance(ranges, list)
        if len(ranges) != 2 or any(len(entry) != 4 for entry in ranges):
            return False
    return True


def _as_bytes(reply: object) -> bytes:
    assert isinstance(reply, bytes), reply
    return reply


def _redis_call(node: RedisServer, *args: str | int | bytes) -> object:
    conn = RawConnection(node.host, node.port, timeout=WAIT_TIMEOUT)
    try:
        return conn.call(*args)
    finally:
        conn.close()


@dataclass
class History:
    """The writes a client saw acknowledged, as the last value each key got OK for."""

    acknowledged: dict[bytes, bytes] = field(default_factory=dict)

    def record(self, key: str | bytes, value: str | bytes, acknowledged: bool) -> None:
        if acknowledged:
            self.acknowledged[_encoded(key)] = _encoded(value)

    def check(self, shards: Iterable[ReplicatedShard]) -> None:
        """Every acknowledged write reads back with its value from its shard's primary, and,
        once ``WAIT 1 0`` on the primary says a replica has everything, from the replica; each
        shard holds some of them."""
        for shard in shards:
            mine = {key: value for key, value in self.acknowledged.items() if shard.serves(key)}
            assert mine, f"no acknowledged write landed on shard {shard.id}"
            assert read_all(shard.primary, mine) == mine
            primary = RawConnection(shard.primary.host, shard.primary.port, WAIT_TIMEOUT)
            try:
                assert primary.call("WAIT", 1, 0) == 1
            finally:
                primary.close()
            assert read_all(shard.replica, mine, readonly=True) == mine


def read_all(
    node: ServerProcess, keys: Iterable[bytes], readonly: bool = False
) -> dict[bytes, object]:
    """Each key's value as ``node`` answers GET (a replica after ``READONLY``)."""
    conn = RawConnection(node.host, node.port)
    try:
        if readonly:
            assert conn.call("READONLY") == ("+", b"OK")
        return {key: conn.call("GET", key) for key in keys}
    finally:
        conn.close()


def _encoded(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text
