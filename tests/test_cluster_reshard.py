"""Resharding on etcd, end to end: three etcd members and two (or three) primaries on
loopback, ``kvstore-cluster reshard`` moving slots and their keys while a redis-py
``RedisCluster`` writes and reads with a history check (every acknowledged write is read back
with its last acknowledged value, and no read ever misses an acknowledged key), the admin
killed with SIGKILL in the middle and run again, ``add-shard``, and ``ASK`` during a step."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from cluster_support import HALVES, Node, document, key_in, node_id
from conftest import ROOT, ServerProcess, free_port, wait_for
from etcd_support import EtcdCluster, etcd_cluster, node_args
from redis_compare import RawConnection

pytest.importorskip("etcd3gw", reason="the cluster extra (etcd3gw) is not installed")

from kvstore.cluster import keys, reshard, steps
from kvstore.cluster.etcd import EtcdStore
from kvstore.cluster.topology import Shard, Topology, from_json
from kvstore.slots import key_slot

ADMIN = ROOT / "kvstore-cluster"
KEYS = 2000


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


def admin_command(etcd: EtcdCluster, name: str, *args: str) -> list[str]:
    return [sys.executable, str(ADMIN), "--etcd", ",".join(etcd.endpoints), "--name", name, *args]


def admin(etcd: EtcdCluster, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        admin_command(etcd, name, *args), capture_output=True, text=True, timeout=300, check=False
    )


def shard(topology: Topology, shard_id: str) -> Shard:
    found = topology.shard(shard_id)
    assert found is not None
    return found


def topology(etcd: EtcdCluster, name: str) -> Topology:
    store = EtcdStore(etcd.endpoints)
    try:
        entry = store.get(keys.topology_key(name))
        assert entry is not None
        return from_json(entry.value)
    finally:
        store.close()


def start_node(
    factory: Callable[..., ServerProcess], etcd: EtcdCluster, name: str, node: Node
) -> ServerProcess:
    server = factory(*node_args(etcd, name, node.id), port=node.port)
    connection = RawConnection(server.host, server.port)
    probe = key_in(0, 16383, "probe")
    wait_for(
        lambda: (
            not (
                isinstance(reply := connection.call("SET", probe, "1"), tuple)
                and reply[1].startswith(b"CLUSTERDOWN")
            )
        ),
        15,
        f"{node.shard} to lead its shard",
    )
    connection.call("DEL", probe)
    connection.close()
    return server


def two_shards(
    factory: Callable[..., ServerProcess], etcd: EtcdCluster, tmp_path: Path, name: str
) -> list[ServerProcess]:
    nodes = [Node(node_id(1), free_port(), "a"), Node(node_id(2), free_port(), "b")]
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document(nodes, HALVES)))
    created = admin(etcd, name, "create", str(path))
    assert created.returncode == 0, created.stderr
    return [start_node(factory, etcd, name, node) for node in nodes]


def cluster_client(server: ServerProcess) -> RedisCluster:
    return RedisCluster(host=server.host, port=server.port, socket_timeout=30)


@dataclass
class History:
    """What a client was told: each key's last acknowledged value, and the values written
    since without an answer (they may or may not have been applied)."""

    acked: dict[str, int] = field(default_factory=dict)
    unsure: dict[str, set[int]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    writes: int = 0
    reads: int = 0
    #: What the client raised (a command that failed is retried by the next one: no loss).
    errors: list[str] = field(default_factory=list)

    def allowed(self, key: str) -> set[int]:
        return {self.acked[key], *self.unsure.get(key, ())}

    def check(self, key: str, got: bytes | str | None, when: str) -> None:
        if got is None:
            self.violations.append(f"{when}: {key} missing (acknowledged {self.acked[key]})")
        elif int(got) not in self.allowed(key):
            self.violations.append(f"{when}: {key} = {got!r}, expected one of {self.allowed(key)}")


def fill(client: RedisCluster, history: History) -> None:
    for index in range(KEYS):
        key = f"key:{index}"
        assert client.set(key, 0)
        history.acked[key] = 0


def load(client: RedisCluster, history: History, stop: threading.Event) -> None:
    """Writes and reads of random keys until ``stop``, checking every read."""
    chooser = random.Random(18)
    value = 0
    names = list(history.acked)
    while not stop.is_set():
        key = chooser.choice(names)
        if chooser.random() < 0.5:
            value += 1
            try:
                acknowledged = client.set(key, value)
            except Exception as exc:  # redis-py's own error path may raise others than RedisError
                history.unsure.setdefault(key, set()).add(value)
                history.errors.append(repr(exc))
                continue
            if acknowledged:
                history.acked[key] = value
                history.unsure.pop(key, None)
                history.writes += 1
        else:
            try:
                got = client.get(key)
            except Exception as exc:
                history.errors.append(repr(exc))
                continue
            history.check(key, got, "during the move")
            history.reads += 1


def check_all(client: RedisCluster, history: History) -> None:
    for key in history.acked:
        history.check(key, client.get(key), "afterwards")
    assert not history.violations, "\n".join(history.violations[:20])
    print(f"{history.writes} writes, {history.reads} reads, {len(history.errors)} errors")
    print("\n".join(sorted(set(history.errors))[:10]))


@contextlib.contextmanager
def under_load(client: RedisCluster, history: History) -> Iterator[None]:
    """Run :func:`load` in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=load, args=(client, history, stop), daemon=True)
    thread.start()
    try:
        wait_for(lambda: history.writes >= 10 and history.reads >= 10, 30, "the load to run")
        yield
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


def assert_served(etcd: EtcdCluster, name: str, expected: dict[str, list[tuple[int, int]]]) -> None:
    shards = topology(etcd, name).shards
    assert {shard.id: list(shard.slots) for shard in shards} == expected
    assert all(not shard.migrating and not shard.importing for shard in shards)


def keys_held(server: ServerProcess) -> int:
    connection = RawConnection(server.host, server.port)
    try:
        return int(connection.call("DBSIZE"))
    finally:
        connection.close()


def count_in(history: History, first: int, last: int) -> int:
    return sum(1 for key in history.acked if first <= key_slot(key.encode()) <= last)


def test_reshard_under_load_loses_nothing(
    etcd: EtcdCluster, tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    a, b = two_shards(server_factory, etcd, tmp_path, "load")
    client = cluster_client(a)
    history = History()
    fill(client, history)
    with under_load(client, history):
        moved = admin(
            etcd,
            "load",
            "reshard",
            "--from",
            "a",
            "--to",
            "b",
            "--slots",
            "4096",
            "--slots-per-step",
            "512",
            "--pipeline",
            "50",
        )
    assert moved.returncode == 0, moved.stderr
    assert "moved slots 0-511 (" in moved.stdout
    assert_served(etcd, "load", {"a": [(4096, 8191)], "b": [(0, 4095), (8192, 16383)]})
    check_all(client, history)
    # Every key is in one place: the source kept none of the slots it gave.
    assert keys_held(a) == count_in(history, 4096, 8191)
    assert keys_held(b) == KEYS - keys_held(a)
    client.close()


def test_admin_killed_mid_reshard_is_finished_by_running_it_again(
    etcd: EtcdCluster, tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    a, b = two_shards(server_factory, etcd, tmp_path, "crash")
    client = cluster_client(a)
    history = History()
    fill(client, history)
    command = ["reshard", "--from", "a", "--to", "b", "--slots", "0-2047"]
    with under_load(client, history):
        process = subprocess.Popen(
            admin_command(etcd, "crash", *command, "--slots-per-step", "32"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            # Killed once a step is done and another one is open (recorded in etcd).
            wait_for(
                lambda: (
                    shard((t := topology(etcd, "crash")), "a").migrating != {}
                    and shard(t, "b").slots[0][0] == 0
                ),
                60,
                "a step of the reshard to be open",
            )
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        left = topology(etcd, "crash")
        again = admin(etcd, "crash", *command, "--slots-per-step", "256")
    assert again.returncode == 0, again.stderr
    assert_served(etcd, "crash", {"a": [(2048, 8191)], "b": [(0, 2047), (8192, 16383)]})
    check_all(client, history)
    assert keys_held(a) == count_in(history, 2048, 8191)
    assert keys_held(b) == KEYS - keys_held(a)
    # What the killed admin left open was finished first.
    opened = sorted(shard(left, "a").migrating)
    if opened:
        assert f"moved slots {opened[0]}-" in again.stdout.splitlines()[0]
    client.close()


def test_add_shard_then_reshard_to_it(
    etcd: EtcdCluster, tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    a, _b = two_shards(server_factory, etcd, tmp_path, "grow")
    client = cluster_client(a)
    history = History()
    fill(client, history)
    third = Node(node_id(3), free_port(), "c")
    added = admin(etcd, "grow", "add-shard", "c", f"127.0.0.1:{third.port}@{third.id}")
    assert added.returncode == 0, added.stderr
    assert f"primary  {third.id} 127.0.0.1:{third.port}" in added.stdout
    refused = admin(etcd, "grow", "add-shard", "c", f"127.0.0.1:{free_port()}")
    assert refused.returncode == 1
    assert "exists already" in refused.stderr
    c = start_node(server_factory, etcd, "grow", third)
    with under_load(client, history):
        moved = admin(etcd, "grow", "reshard", "--from", "a", "--to", "c", "--slots", "100-1099")
        assert moved.returncode == 0, moved.stderr
        moved = admin(etcd, "grow", "reshard", "--from", "b", "--to", "c", "--slots", "1000")
        assert moved.returncode == 0, moved.stderr
    assert_served(
        etcd,
        "grow",
        {"a": [(0, 99), (1100, 8191)], "b": [(9192, 16383)], "c": [(100, 1099), (8192, 9191)]},
    )
    check_all(client, history)
    assert keys_held(c) == count_in(history, 100, 1099) + count_in(history, 8192, 9191)
    client.close()


def test_a_client_is_asked_to_the_target_during_a_step(
    etcd: EtcdCluster, tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    a, b = two_shards(server_factory, etcd, tmp_path, "ask")
    moving, staying = key_in(0, 8191, "moving"), b"{" + key_in(0, 8191, "moving") + b"}:stays"
    slot = key_slot(moving)
    source = RawConnection(a.host, a.port)
    source.call("SET", moving, "1")
    source.call("SET", staying, "2")
    store = EtcdStore(etcd.endpoints)
    try:
        steps.change_topology(store, "ask", steps.mark("a", "b", [slot]))
        wait_for(
            lambda: f"[{slot}->-{node_id(2)}]" in source.call("CLUSTER", "NODES").decode(),
            15,
            "the source to apply the step",
        )
        target = RawConnection(b.host, b.port)
        wait_for(
            lambda: f"[{slot}-<-{node_id(1)}]" in target.call("CLUSTER", "NODES").decode(),
            15,
            "the target to apply the step",
        )
        reply = source.call("MIGRATE", "127.0.0.1", b.port, moving, 0, 5000)
        assert reply == ("+", b"OK")
        assert source.call("GET", moving) == ("-", f"ASK {slot} 127.0.0.1:{b.port}".encode())
        assert source.call("GET", staying) == b"2"  # still here: served here
        assert source.call("MGET", moving, staying)[0] == "-"  # TRYAGAIN: split over two
        assert target.call("GET", moving)[1].startswith(b"MOVED ")  # not without ASKING
        client = cluster_client(a)
        assert client.get(moving) == b"1"  # redis-py followed the ASK
        assert client.set(f"{{{moving.decode()}}}:new", "3")  # created on the target
        mover = reshard.Mover(store, "ask", report=lambda line: None)
        assert mover.fix() == 1
        wait_for(
            lambda: source.call("GET", moving)[1].startswith(b"MOVED "), 15, "the slot to move"
        )
        assert client.get(staying) == b"2"
        assert client.get(f"{{{moving.decode()}}}:new") == b"3"
        assert target.call("DBSIZE") == 3
        client.close()
        target.close()
    finally:
        source.close()
        store.close()
