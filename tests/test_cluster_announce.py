"""A node finds itself in the topology by node ID, else by its announced host name and port
(every pod of a Kubernetes StatefulSet listens on the same port), else by its port alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster_support import Node, document, key_in, node_id
from conftest import ServerProcess, free_port
from kvstore.cluster.startup import ClusterSetupError, starting_view
from kvstore.config import ConfigError, ServerConfig, load_config

SAME_PORT = 5000


def topology_file(tmp_path: Path, hosts: dict[str, tuple[str, int]]) -> str:
    """A topology of one primary per shard, ``hosts`` giving each shard's host and port."""
    shards = []
    for number, (shard, (host, port)) in enumerate(hosts.items(), start=1):
        member = {"id": node_id(number), "host": host, "port": port, "role": "primary"}
        shards.append({"id": shard, "epoch": number, "slots": [], "members": [member]})
    path = tmp_path / "topology.json"
    path.write_text(json.dumps({"version": 1, "shards": shards}))
    return str(path)


def my_id(path: str, **options: object) -> str:
    config = ServerConfig(cluster_enabled=True, cluster_topology_file=path, **options)  # type: ignore[arg-type]
    view, membership = starting_view(config)
    assert membership is None
    return view.my_id


PODS = {
    "a": ("kvstore-a-0.kvstore-a", SAME_PORT),
    "b": ("kvstore-b-0.kvstore-b", SAME_PORT),
}


def test_the_announced_host_name_picks_the_member_among_equal_ports(tmp_path: Path) -> None:
    path = topology_file(tmp_path, PODS)
    assert my_id(path, port=SAME_PORT, cluster_announce_hostname="kvstore-b-0.kvstore-b") == (
        node_id(2)
    )
    # DNS names: no case, and a final dot changes nothing.
    assert my_id(path, port=SAME_PORT, cluster_announce_hostname="KVSTORE-A-0.kvstore-a.") == (
        node_id(1)
    )


def test_the_node_id_comes_before_the_host_name(tmp_path: Path) -> None:
    path = topology_file(tmp_path, PODS)
    chosen = my_id(
        path,
        port=SAME_PORT,
        cluster_node_id=node_id(2),
        cluster_announce_hostname="kvstore-a-0.kvstore-a",
    )
    assert chosen == node_id(2)


def test_without_a_host_name_equal_ports_are_ambiguous(tmp_path: Path) -> None:
    path = topology_file(tmp_path, PODS)
    with pytest.raises(ClusterSetupError, match="2 members on port 5000"):
        my_id(path, port=SAME_PORT)


def test_an_unknown_host_name_stops_the_start(tmp_path: Path) -> None:
    path = topology_file(tmp_path, PODS)
    with pytest.raises(ClusterSetupError, match=r"0 members at kvstore-c-0\.kvstore-c:5000"):
        my_id(path, port=SAME_PORT, cluster_announce_hostname="kvstore-c-0.kvstore-c")
    # The host name matches only with the port: another port is another member.
    with pytest.raises(ClusterSetupError, match=r"0 members at kvstore-a-0\.kvstore-a:6000"):
        my_id(path, port=6000, cluster_announce_hostname="kvstore-a-0.kvstore-a")


def test_the_announced_port_stands_for_the_listening_port(tmp_path: Path) -> None:
    path = topology_file(tmp_path, {"a": ("127.0.0.1", 7000), "b": ("127.0.0.1", 7001)})
    assert my_id(path, port=5000, cluster_announce_port=7001) == node_id(2)
    assert my_id(
        path, port=5000, cluster_announce_port=7000, cluster_announce_hostname="127.0.0.1"
    ) == node_id(1)


def test_the_options_come_from_flags_and_environment() -> None:
    env = {"KVSTORE_CLUSTER_ANNOUNCE_HOSTNAME": "kvstore-a-1.kvstore-a"}
    config = load_config(["--cluster-announce-port", "7001"], env)
    assert config.cluster_announce_hostname == "kvstore-a-1.kvstore-a"
    assert config.cluster_announce_port == 7001
    with pytest.raises(ConfigError, match="out of range"):
        load_config(["--cluster-announce-port", "70000"], {})


def test_two_nodes_on_one_port_find_themselves_by_host(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Two real servers on the same port of two loopback addresses, as two pods: each takes
    its own member from one topology file, and redis-cli -c follows MOVED between them."""
    redis_cli = shutil.which("redis-cli")
    if redis_cli is None:
        pytest.skip("redis-cli is not installed (scripts/test installs it)")
    port = free_port()
    hosts = ["127.0.0.1", "127.0.0.2"]
    nodes = [Node(node_id(1), port, "a"), Node(node_id(2), port, "b")]
    topology = document(nodes, {"a": [[0, 8191]], "b": [[8192, 16383]]})
    for shard, host in zip(topology["shards"], hosts, strict=True):
        shard["members"][0]["host"] = host
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(topology))
    for host in hosts:
        server_factory(
            "--no-persist",
            "--bind",
            host,
            "--cluster-enabled",
            "--cluster-topology-file",
            str(path),
            "--cluster-announce-hostname",
            host,
            port=port,
        )

    def cli(host: str, *args: str) -> str:
        done = subprocess.run(
            [redis_cli, "-c", "-h", host, "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    for index, host in enumerate(hosts):
        assert cli(host, "cluster", "myid") == node_id(index + 1)
    far = key_in(8192, 16383).decode()
    assert cli("127.0.0.1", "set", far, "v") == "OK"  # redirected to 127.0.0.2
    plain = subprocess.run(
        [redis_cli, "-h", "127.0.0.2", "-p", str(port), "get", far],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert plain.stdout.strip() == "v"
