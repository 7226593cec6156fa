"""Failover on etcd, end to end: a shard of a primary and a replica (real ``./server``
processes) on three real etcd members on loopback, a client writing all along, and every
write that got OK readable afterwards. The primary killed, stopped past its lease, handed
over on request; etcd's leader killed; etcd's quorum lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import kvstore
from cluster_support import Node, document, node_id, start_nodes
from conftest import ROOT, ServerProcess, free_port
from etcd_support import EtcdCluster, EtcdMember, etcd_cluster
from failover_support import FAILOVER_BOUND, Shard, Writer, role, start_shard, wait
from kvstore.cluster.leadership import LEADER_TTL
from redis_compare import RawConnection
from replication_support import info, offset

pytest.importorskip("etcd3gw", reason="the cluster extra (etcd3gw) is not installed")

CLUSTERDOWN = ("-", b"CLUSTERDOWN The cluster is down and only accepts read commands")


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


def _name(request: pytest.FixtureRequest) -> str:
    return str(request.node.name).replace("_", "-")


def _writes_at(shard: Shard, index: int) -> Callable[[], bool]:
    """True once node ``index`` leads and takes a write."""

    def check() -> bool:
        connection = RawConnection("127.0.0.1", shard.nodes[index].port)
        try:
            return bool(connection.call("SET", "probe", "1") == ("+", b"OK"))
        finally:
            connection.close()

    return check


def _writing(writer: Writer, count: int = 50) -> None:
    """Let the writer get ``count`` more writes acknowledged."""
    goal = len(writer.acknowledged) + count
    wait(lambda: len(writer.acknowledged) >= goal, 30, f"{count} writes acknowledged")


def test_a_killed_primary_is_replaced_and_no_acknowledged_write_is_lost(
    etcd: EtcdCluster,
    tmp_path: Path,
    server_factory: Callable[..., ServerProcess],
    request: pytest.FixtureRequest,
) -> None:
    shard = start_shard(etcd, _name(request), tmp_path, server_factory)
    old_epoch = shard.leader()
    assert old_epoch is not None
    writer = Writer(shard.addresses())
    writer.start()
    try:
        _writing(writer)
        shard.server(0).proc.kill()  # SIGKILL: no chance to give the lease up
        killed = time.monotonic()
        took = wait(_writes_at(shard, 1), FAILOVER_BOUND, "the replica to take writes")
        print(f"failover after SIGKILL: {took:.2f} s")
        _writing(writer)
        assert writer.acknowledged_after(killed) > 0
    finally:
        writer.stop()
    leader = shard.leader()
    assert leader is not None
    assert leader[0] == shard.nodes[1].id
    assert leader[1] > old_epoch[1]
    assert role(shard.server(1)) == "master"
    # The new leader is the shard's primary in what the cluster tells clients.
    with kvstore.Client(shard.server(1).address) as client:
        (entry,) = client.execute_command("CLUSTER", "SLOTS")
    assert entry[2][1:3] == [shard.nodes[1].port, shard.nodes[1].id.encode()]
    assert writer.missing(shard.server(1)) == []
    # Promotion continued the stream: the new primary's history holds the old one's.
    assert info(shard.server(1))["master_replid2"] != "0" * 40


def test_a_dead_sync_replica_leaves_the_sync_key_and_writes_go_on(
    etcd: EtcdCluster,
    tmp_path: Path,
    server_factory: Callable[..., ServerProcess],
    request: pytest.FixtureRequest,
) -> None:
    shard = start_shard(etcd, _name(request), tmp_path, server_factory)
    writer = Writer(shard.addresses())
    writer.start()
    try:
        _writing(writer)
        shard.server(1).proc.kill()
        # Writes wait for it until the sync timeout; then etcd is told first, writes go on.
        wait(lambda: shard.sync_members() == (shard.nodes[0].id,), 15, "the sync key to shrink")
        _writing(writer)
    finally:
        writer.stop()
    assert writer.missing(shard.server(0)) == []
    assert shard.leader() is not None


def test_the_other_replicas_continue_from_the_new_primary(
    etcd: EtcdCluster,
    tmp_path: Path,
    server_factory: Callable[..., ServerProcess],
    request: pytest.FixtureRequest,
) -> None:
    shard = start_shard(etcd, _name(request), tmp_path, server_factory, replicas=2)
    new, other = shard.server(1), shard.server(2)
    writer = Writer(shard.addresses())
    writer.start()
    try:
        _writing(writer)
        shard.server(0).proc.kill()
        wait(_writes_at(shard, 1), FAILOVER_BOUND, "the sync replica to take writes")
        # Only the sync replica may take over: the other one follows it.
        wait(lambda: info(other).get("master_port") == str(new.port), 30, "the other to follow")
        _writing(writer)
    finally:
        writer.stop()
    wait(lambda: offset(other) == offset(new), 30, "the other replica to catch up")
    # It continued the stream where it was (replid2): no full copy.
    stats = info(new, "stats")
    assert (stats["sync_partial_ok"], stats["sync_full"]) == ("1", "0")
    assert writer.missing(new) == []
    assert writer.missing(other) == []


def test_a_replica_in_a_topology_file_replicates_its_primary(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    primary, replica = start_nodes(
        server_factory, tmp_path, [("a", "primary"), ("a", "replica")], {"a": [[0, 16383]]}
    )
    connection = RawConnection(primary.host, primary.port)
    try:
        assert connection.call("SET", "k", "v") == ("+", b"OK")
    finally:
        connection.close()
    wait(lambda: info(replica).get("master_link_status") == "up", 30, "the replica's link")
    wait(lambda: offset(replica) == offset(primary), 30, "the replica to catch up")
    connection = RawConnection(replica.host, replica.port)
    try:
        assert connection.call("READONLY") == ("+", b"OK")
        assert connection.call("GET", "k") == b"v"
        assert (
            connection.call("SET", "k", "w")[1] == f"MOVED 7629 127.0.0.1:{primary.port}".encode()
        )
    finally:
        connection.close()


def test_a_stopped_primary_acknowledges_nothing_after_its_lease_and_rejoins(
    etcd: EtcdCluster,
    tmp_path: Path,
    server_factory: Callable[..., ServerProcess],
    request: pytest.FixtureRequest,
) -> None:
    shard = start_shard(etcd, _name(request), tmp_path, server_factory)
    old, new = shard.server(0), shard.server(1)
    writer = Writer(shard.addresses())
    writer.start()
    replies: list[object] = []
    late: threading.Thread | None = None
    try:
        _writing(writer)
        os.kill(old.proc.pid, signal.SIGSTOP)
        try:
            took = wait(_writes_at(shard, 1), FAILOVER_BOUND, "the replica to take writes")
            print(f"failover after SIGSTOP: {took:.2f} s")
            _writing(writer)
            # A write sent to the stopped primary waits in its socket until it wakes up.
            connection = RawConnection(old.host, old.port, timeout=30)
            late = threading.Thread(
                target=lambda: replies.append(connection.call("SET", "late", "1"))
            )
            late.start()
        finally:
            os.kill(old.proc.pid, signal.SIGCONT)
        late.join(30)
        connection.close()
        assert len(replies) == 1
        reply = replies[0]
        assert reply == CLUSTERDOWN or (
            isinstance(reply, tuple) and reply[1].startswith(b"MOVED ")
        ), reply
        _writing(writer)
    finally:
        writer.stop()
    assert writer.missing(new) == []
    # The old primary follows the new one, its data replaced by the new primary's.
    wait(lambda: role(old) == "slave", 30, "the old primary to follow")
    wait(lambda: info(old).get("master_port") == str(new.port), 30, "it to follow the new one")
    wait(
        lambda: info(old).get("master_link_status") == "up" and offset(old) == offset(new),
        60,
        "the old primary to catch up",
    )
    assert writer.missing(old) == []
    connection = RawConnection(old.host, old.port)
    try:
        assert connection.call("READONLY") == ("+", b"OK")
        assert connection.call("GET", "late") is None
        assert connection.call("SET", "late", "2")[1].startswith(b"MOVED ")
    finally:
        connection.close()


def test_a_graceful_failover_continues_the_stream(
    etcd: EtcdCluster,
    tmp_path: Path,
    server_factory: Callable[..., ServerProcess],
    request: pytest.FixtureRequest,
) -> None:
    name = _name(request)
    shard = start_shard(etcd, name, tmp_path, server_factory)
    old, new = shard.server(0), shard.server(1)
    writer = Writer(shard.addresses())
    writer.start()
    try:
        _writing(writer)
        done = _admin(etcd, "--name", name, "failover", "a", "--to", shard.nodes[1].id)
        assert done.returncode == 0, done.stderr
        assert f"shard a: leader {shard.nodes[1].id}" in done.stdout
        _writing(writer)
    finally:
        writer.stop()
    assert writer.missing(new) == []
    wait(lambda: info(old).get("master_port") == str(new.port), 30, "the old primary to follow")
    wait(lambda: info(old).get("master_link_status") == "up", 30, "its link to be up")
    # Nothing to discard: it continued from the new primary's stream (replid2).
    assert int(info(new, "stats")["sync_partial_ok"]) >= 1
    assert writer.missing(old) == []


def _admin(etcd: EtcdCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "kvstore-cluster"), "--etcd", ",".join(etcd.endpoints), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_failover_command_refuses_what_it_cannot_do(etcd: EtcdCluster, tmp_path: Path) -> None:
    nodes = [Node(node_id(1), free_port(), "a"), Node(node_id(2), free_port(), "a", "replica")]
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document(nodes, {"a": [[0, 16383]]})))
    assert _admin(etcd, "--name", "refusals", "create", str(path)).returncode == 0
    status = _admin(etcd, "--name", "refusals", "status")
    assert f"  sync: {nodes[0].id}\n" in status.stdout  # bootstrap: the primary alone
    unknown = _admin(etcd, "--name", "refusals", "failover", "zz")
    assert (unknown.returncode, unknown.stderr) == (
        2,
        "kvstore-cluster: cluster 'refusals' has no shard 'zz'\n",
    )
    leaderless = _admin(etcd, "--name", "refusals", "failover", "a")
    assert (leaderless.returncode, leaderless.stderr) == (
        1,
        "kvstore-cluster: shard a has no leader now\n",
    )


def _etcd_leader(etcd: EtcdCluster) -> EtcdMember | None:
    """The member etcd's maintenance status names as the leader (None: none now)."""
    for member in etcd.members:
        if member.proc is None or member.proc.poll() is not None:
            continue
        request = urllib.request.Request(
            f"http://{member.endpoint}/v3/maintenance/status", data=b"{}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            status = json.load(reply)
        # No "leader" while an election runs (the gateway leaves zero values out).
        if status.get("leader") and status["header"]["member_id"] == status["leader"]:
            return member
    return None


def test_killing_etcds_leader_changes_no_primary(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    with etcd_cluster(tmp_path / "etcd") as etcd:
        shard = start_shard(etcd, "etcd-leader", tmp_path, server_factory)
        before = shard.leader()
        writer = Writer(shard.addresses())
        writer.start()
        try:
            _writing(writer)
            leader = _etcd_leader(etcd)
            assert leader is not None
            assert leader.proc is not None
            leader.proc.kill()
            leader.proc.wait()
            killed = time.monotonic()
            wait(lambda: _etcd_leader(etcd) not in (None, leader), 30, "a new etcd leader")
            # Writes go on through and past a whole lease.
            wait(lambda: time.monotonic() > killed + LEADER_TTL, LEADER_TTL + 1, "a lease")
            _writing(writer)
        finally:
            writer.stop()
        assert shard.leader() == before  # the same primary, the same epoch
        assert writer.failed == 0
        assert writer.missing(shard.server(0)) == []


def test_losing_etcds_quorum_stops_writes_within_the_lease(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    with etcd_cluster(tmp_path / "etcd") as etcd:
        shard = start_shard(etcd, "quorum", tmp_path, server_factory)
        primary = RawConnection("127.0.0.1", shard.nodes[0].port)
        try:
            assert primary.call("SET", "k", "1") == ("+", b"OK")
            for member in etcd.members[:2]:
                etcd.stop_member(member)
            stopped = time.monotonic()
            took = wait(
                lambda: primary.call("SET", "k", "2") == CLUSTERDOWN,
                LEADER_TTL,
                "writes to be refused",
            )
            print(f"writes refused {took:.2f} s after quorum was lost")
            assert time.monotonic() - stopped <= LEADER_TTL
            assert primary.call("SET", "k", "3") == CLUSTERDOWN
            assert primary.call("GET", "k") in (b"1", b"2")  # reads go on
        finally:
            primary.close()
