"""Helpers for the failover tests (no tests of their own): a shard of a primary and a replica
on etcd, as real ``./server`` processes, and a writer that keeps the history a client saw
(every write that got OK must be readable afterwards)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import kvstore
from cluster_support import Node, document, node_id
from conftest import ServerProcess, free_port
from etcd_support import EtcdCluster, node_args
from kvstore.cluster import keys
from kvstore.cluster.admin import create
from kvstore.cluster.etcd import EtcdStore
from kvstore.cluster.leadership import LEADER_TTL
from kvstore.cluster.sync import parse
from replication_support import info

#: The issue's bound on a failover: the shard takes writes again within the TTL and 2 s.
FAILOVER_BOUND = LEADER_TTL + 2.0


@dataclass
class Shard:
    """One shard on etcd: ``nodes[0]`` starts as its primary, ``nodes[1]`` its replica."""

    etcd: EtcdCluster
    name: str
    nodes: list[Node]
    servers: dict[str, ServerProcess] = field(default_factory=dict)

    def store(self) -> EtcdStore:
        return EtcdStore(self.etcd.endpoints)

    def leader(self) -> tuple[str, int] | None:
        """The node holding the leader key and its epoch (None: free)."""
        store = self.store()
        try:
            entry = store.get(keys.leader_key(self.name, "a"))
        finally:
            store.close()
        return None if entry is None else (entry.value.decode(), entry.create_revision)

    def sync_members(self) -> tuple[str, ...]:
        store = self.store()
        try:
            entry = store.get(keys.sync_key(self.name, "a"))
        finally:
            store.close()
        sync = None if entry is None else parse(entry.value)
        return () if sync is None else sync.members

    def server(self, index: int) -> ServerProcess:
        return self.servers[self.nodes[index].id]

    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{node.port}" for node in self.nodes]


def start_shard(
    etcd: EtcdCluster,
    name: str,
    tmp_path: Path,
    factory: Callable[..., ServerProcess],
    *extra: str,
    replicas: int = 1,
) -> Shard:
    """A primary and its replicas for every slot, on etcd, once the first replica holds every
    acknowledged write (it is in the sync key) and every replica's link is up."""
    nodes = [Node(node_id(1), free_port(), "a")]
    nodes += [Node(node_id(2 + n), free_port(), "a", "replica") for n in range(replicas)]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document(nodes, {"a": [[0, 16383]]})))
    store = EtcdStore(etcd.endpoints)
    try:
        assert create(store, name, str(path)) is None
    finally:
        store.close()
    shard = Shard(etcd, name, nodes)
    for node in nodes:
        shard.servers[node.id] = factory(*node_args(etcd, name, node.id), *extra, port=node.port)
    wait(lambda: shard.sync_members() == (nodes[0].id, nodes[1].id), 30, "a sync replica")
    replicas_up = [shard.server(index) for index in range(1, len(nodes))]
    wait(
        lambda: all(info(each).get("master_link_status") == "up" for each in replicas_up),
        30,
        "the replicas' links",
    )
    return shard


def wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until ``condition()`` holds (a node restarting counts as not yet), checking often,
    failing after ``timeout`` seconds; the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (kvstore.KvstoreError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def role(server: ServerProcess) -> str:
    return info(server).get("role", "")


class Writer(threading.Thread):
    """Writes ``{w}<n>`` = ``<n>`` for n = 0, 1, ... (one slot: MGET reads them back) through
    a cluster client (a fresh one after any failure, asking another node first, so it finds
    the new primary), keeping which writes got OK."""

    def __init__(self, addresses: list[str]) -> None:
        super().__init__(name="writer", daemon=True)
        self.addresses = addresses
        self.acknowledged: list[int] = []
        #: When each acknowledged write got its OK (monotonic), by number.
        self.acknowledged_at: dict[int, float] = {}
        self.failed = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        client: kvstore.ClusterClient | None = None
        seeds = list(self.addresses)
        number = 0
        while not self.stopped.is_set():
            try:
                if client is None:
                    client = kvstore.ClusterClient(seeds, socket_timeout=1)
                if client.set(f"{{w}}{number}", str(number)):
                    self.acknowledged.append(number)
                    self.acknowledged_at[number] = time.monotonic()
            except (kvstore.KvstoreError, OSError):
                self.failed += 1
                if client is not None:
                    client.close()
                client = None
                # The next client asks another node first: a stopped one would not answer.
                seeds = seeds[1:] + seeds[:1]
                self.stopped.wait(0.01)  # not a busy loop while no node answers
            number += 1
        if client is not None:
            client.close()

    def acknowledged_after(self, moment: float) -> int:
        return sum(1 for at in list(self.acknowledged_at.values()) if at > moment)

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)
        assert not self.is_alive(), "the writer did not stop"

    def missing(self, server: ServerProcess) -> list[int]:
        """The acknowledged writes ``server`` does not hold."""
        with kvstore.Client(server.address, socket_timeout=30) as client:
            client.execute_command("READONLY")  # a replica answers reads of its shard
            lost = []
            for start in range(0, len(self.acknowledged), 500):
                numbers = self.acknowledged[start : start + 500]
                values = client.execute_command("MGET", *(f"{{w}}{n}" for n in numbers))
                lost += [n for n, v in zip(numbers, values, strict=True) if v != str(n).encode()]
            return lost
