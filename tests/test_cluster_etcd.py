"""Cluster mode on etcd, end to end: three etcd members on loopback, ``kvstore-cluster``
storing a topology, ``./server`` nodes reading it, following changes made in a transaction,
leading their shards, and refusing writes once their leadership cannot be renewed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster_support import HALVES, Node, document, key_in, node_id
from conftest import ROOT, ServerProcess, free_port, wait_for
from etcd_support import EtcdCluster, etcd_cluster
from redis_compare import RawConnection

pytest.importorskip("etcd3gw", reason="the cluster extra (etcd3gw) is not installed")

from kvstore.cluster import keys
from kvstore.cluster.etcd import EtcdStore
from kvstore.cluster.topology import from_json

ADMIN = ROOT / "kvstore-cluster"


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


def admin(etcd: EtcdCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ADMIN), "--etcd", ",".join(etcd.endpoints), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _two_nodes(tmp_path: Path) -> tuple[list[Node], Path]:
    nodes = [Node(node_id(1), free_port(), "a"), Node(node_id(2), free_port(), "b")]
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document(nodes, HALVES)))
    return nodes, path


def _start(
    factory: Callable[..., ServerProcess], etcd: EtcdCluster, name: str, node: Node
) -> ServerProcess:
    return factory(
        "--no-persist",
        "--cluster-enabled",
        "--cluster-etcd-endpoints",
        " ".join(etcd.endpoints),
        "--cluster-name",
        name,
        port=node.port,
    )


def test_create_then_status(etcd: EtcdCluster, tmp_path: Path) -> None:
    _, path = _two_nodes(tmp_path)
    missing = admin(etcd, "--name", "admin", "status")
    assert missing.returncode == 1
    assert "kvstore-cluster create" in missing.stderr
    assert admin(etcd, "--name", "admin", "create", str(path)).returncode == 0
    again = admin(etcd, "--name", "admin", "create", str(path))
    assert again.returncode == 1
    assert "exists already" in again.stderr
    status = admin(etcd, "--name", "admin", "status")
    assert status.returncode == 0, status.stderr
    assert "shard a: slots 0-8191; epoch 1; no leader" in status.stdout
    assert "slots served: 16384 of 16384" in status.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    refused = admin(etcd, "--name", "other", "create", str(bad))
    assert refused.returncode == 2
    assert "unknown version" in refused.stderr


def test_nodes_serve_lead_and_follow_the_topology(
    etcd: EtcdCluster, tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    nodes, path = _two_nodes(tmp_path)
    assert admin(etcd, "--name", "follow", "create", str(path)).returncode == 0
    a, b = (_start(server_factory, etcd, "follow", node) for node in nodes)
    conn_a, conn_b = RawConnection(a.host, a.port), RawConnection(b.host, b.port)
    store = EtcdStore(etcd.endpoints)
    try:
        low, high = key_in(0, 8191), key_in(8192, 16383)
        assert conn_a.call("SET", low, "1") == ("+", b"OK")
        assert _moved(conn_a.call("SET", high, "1"))
        assert conn_b.call("SET", high, "1") == ("+", b"OK")
        # Each primary leads its shard: the leader key names it, its epoch is the key's
        # create revision, as CLUSTER NODES shows it.
        leader = store.get(keys.leader_key("follow", "a"))
        assert leader is not None
        assert leader.value == nodes[0].id.encode()
        wait_for(
            lambda: (
                f" {leader.create_revision} connected 0-8191"
                in conn_a.call("CLUSTER", "NODES").decode()
            ),
            10,
            "the epoch of shard a in CLUSTER NODES",
        )
        status = admin(etcd, "--name", "follow", "status")
        assert f"leader {nodes[0].id}" in status.stdout
        # The topology changed in a transaction: every node follows.
        entry = store.get(keys.topology_key("follow"))
        assert entry is not None
        moved = document(nodes, {"a": [[0, 16383]], "b": []})
        (tmp_path / "moved.json").write_text(json.dumps(moved))
        done = admin(etcd, "--name", "follow", "update", str(tmp_path / "moved.json"))
        assert done.returncode == 0, done.stderr
        # Each node applies it when its own watch delivers it: wait for both.
        wait_for(lambda: _moved(conn_b.call("GET", high)), 10, "node b to give its slots up")
        wait_for(
            lambda: conn_a.call("CLUSTER", "SLOTS")[0][:2] == [0, 16383],
            10,
            "node a to serve every slot",
        )
        assert conn_a.call("GET", high) is None  # served by a now (b's data stays on b)
        # A stale compare-and-swap changes nothing.
        assert not store.replace(keys.topology_key("follow"), b"{}", entry.mod_revision)
        current = store.get(keys.topology_key("follow"))
        assert current is not None
        assert from_json(current.value).shard("a") is not None
    finally:
        conn_a.close()
        conn_b.close()
        store.close()
    # A clean stop gives the leadership up at once.
    a.stop()
    assert store_get(etcd, keys.leader_key("follow", "a")) is None


def _moved(reply: object) -> bool:
    return isinstance(reply, tuple) and reply[1].startswith(b"MOVED ")


def store_get(etcd: EtcdCluster, key: bytes) -> object:
    store = EtcdStore(etcd.endpoints)
    try:
        return store.get(key)
    finally:
        store.close()


def test_writes_stop_when_the_leadership_cannot_be_renewed(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    with etcd_cluster(tmp_path / "etcd") as etcd:
        node = Node(node_id(1), free_port(), "a")
        path = tmp_path / "topology.json"
        path.write_text(json.dumps(document([node], {"a": [[0, 16383]]})))
        assert admin(etcd, "create", str(path)).returncode == 0
        server = _start(server_factory, etcd, keys.DEFAULT_NAME, node)
        conn = RawConnection(server.host, server.port)
        try:
            key = key_in(0, 16383)
            assert conn.call("SET", key, "v") == ("+", b"OK")
            etcd.stop()  # every member: no renewal can succeed
            wait_for(
                lambda: (
                    conn.call("SET", key, "w")
                    == ("-", b"CLUSTERDOWN The cluster is down and only accepts read commands")
                ),
                15,
                "writes to be refused",
            )
            assert conn.call("GET", key) == b"w"  # reads go on (the last write accepted)
        finally:
            conn.close()
