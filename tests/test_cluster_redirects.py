"""Several nodes on loopback sharing a static topology file: each serves its slot ranges and
redirects the rest as Redis Cluster does (MOVED, ASK, TRYAGAIN, READONLY on a replica), and
cluster clients follow: redis-py's RedisCluster (sync and asyncio), redis-cli -c,
redis-benchmark --cluster."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio
from redis.cluster import RedisCluster

from cluster_support import HALVES, key_in, start_nodes, two_nodes
from conftest import ServerProcess, run_server_to_exit
from redis_compare import RawConnection


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    with two_nodes(tmp_path_factory.mktemp("pair")) as nodes:
        yield nodes


@pytest.fixture
def conns(pair: list[ServerProcess]) -> Iterator[list[RawConnection]]:
    raws = [RawConnection(node.host, node.port) for node in pair]
    for raw in raws:
        raw.call("FLUSHALL")
    yield raws
    for raw in raws:
        raw.close()


def test_each_node_redirects_the_other_half(
    pair: list[ServerProcess], conns: list[RawConnection]
) -> None:
    a, b = conns
    low, high = key_in(0, 8191), key_in(8192, 16383)
    assert a.call("SET", low, "1") == ("+", b"OK")
    moved = a.call("SET", high, "2")
    assert moved == ("-", f"MOVED {a.call('CLUSTER', 'KEYSLOT', high)} {pair[1].address}".encode())
    assert b.call("SET", high, "2") == ("+", b"OK")
    assert b.call("GET", low)[1].startswith(b"MOVED ")
    assert a.call("PING") == ("+", b"PONG")  # no keys: any node answers


def test_both_nodes_describe_the_same_cluster(conns: list[RawConnection]) -> None:
    a, b = conns
    assert a.call("CLUSTER", "SLOTS") == b.call("CLUSTER", "SLOTS")
    nodes_a = a.call("CLUSTER", "NODES").decode().splitlines()
    nodes_b = b.call("CLUSTER", "NODES").decode().splitlines()
    assert [line.replace("myself,", "") for line in nodes_a] == [
        line.replace("myself,", "") for line in nodes_b
    ]
    assert sum("myself" in line for line in nodes_a) == 1
    info = a.call("CLUSTER", "INFO").decode()
    assert "cluster_known_nodes:2\r\n" in info
    assert "cluster_size:2\r\n" in info


def test_a_moved_transaction_is_discarded(conns: list[RawConnection]) -> None:
    a, _ = conns
    high = key_in(8192, 16383)
    assert a.call("MULTI") == ("+", b"OK")
    assert a.call("SET", high, "1")[1].startswith(b"MOVED ")
    assert a.call("EXEC") == (
        "-",
        b"EXECABORT Transaction discarded because of previous errors.",
    )


def test_redis_py_cluster_spreads_keys(
    pair: list[ServerProcess], conns: list[RawConnection]
) -> None:
    client = RedisCluster(host=pair[0].host, port=pair[0].port)
    try:
        keys = [f"spread:{index}" for index in range(50)]
        for key in keys:
            client.set(key, key)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
    finally:
        client.close()
    a, b = conns
    on_a = sum(
        a.call("EXISTS", key) == 1 for key in keys if a.call("CLUSTER", "KEYSLOT", key) < 8192
    )
    on_b = sum(
        b.call("EXISTS", key) == 1 for key in keys if b.call("CLUSTER", "KEYSLOT", key) >= 8192
    )
    assert on_a + on_b == len(keys)
    assert on_a
    assert on_b


def test_redis_py_asyncio_cluster(pair: list[ServerProcess]) -> None:
    async def main() -> list[object]:
        client = redis.asyncio.RedisCluster(host=pair[1].host, port=pair[1].port)
        try:
            for index in range(20):
                await client.set(f"async:{index}", index)
            return [await client.get(f"async:{index}") for index in range(20)]
        finally:
            await client.aclose()

    assert asyncio.run(main()) == [str(index).encode() for index in range(20)]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install redis-tools)")
    return path


def test_redis_cli_follows_moved(pair: list[ServerProcess]) -> None:
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    high = key_in(8192, 16383).decode()
    base = [_tool("redis-cli"), "-c", "-p", str(pair[0].port)]
    assert run([*base, "set", high, "far"], capture_output=True, text=True).stdout == "OK\n"
    assert run([*base, "get", high], capture_output=True, text=True).stdout == "far\n"
    plain = run(
        [_tool("redis-cli"), "-p", str(pair[0].port), "get", high], capture_output=True, text=True
    )
    assert plain.stdout.startswith("MOVED ")


def test_redis_benchmark_in_cluster_mode(pair: list[ServerProcess]) -> None:
    result = subprocess.run(
        [
            _tool("redis-benchmark"),
            "--cluster",
            "-p",
            str(pair[0].port),
            "-t",
            "set,get",
            "-n",
            "2000",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Cluster has 2 master nodes" in output, output
    final = [line.strip() for line in re.split(r"[\r\n]", output) if "requests per second" in line]
    assert [line.split(":")[0] for line in final] == ["SET", "GET"], output
    assert "error" not in output.lower(), output


# -- a slot on the move: ASK, ASKING, TRYAGAIN -------------------------------------------------


def test_a_slot_on_the_move(server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    slot = 100
    tag = key_in(slot, slot).decode()
    present, absent = f"{{{tag}}}here".encode(), f"{{{tag}}}gone".encode()
    # The source's data: written while it served every slot alone.
    data = tmp_path / "source"
    alone = server_factory("--cluster-enabled", "--dir", str(data))
    conn = RawConnection(alone.host, alone.port)
    assert conn.call("SET", present, "1") == ("+", b"OK")
    conn.close()
    alone.stop()
    source, target = start_nodes(
        server_factory,
        tmp_path,
        [("a", "primary"), ("b", "primary")],
        HALVES,
        dirs=[data],
        migrating={"a": {str(slot): "b"}},
        importing={"b": {str(slot): "a"}},
    )
    a, b = RawConnection(source.host, source.port), RawConnection(target.host, target.port)
    try:
        assert a.call("GET", present) == b"1"  # still served where it is
        assert a.call("GET", absent) == ("-", f"ASK {slot} {target.address}".encode())
        assert a.call("MGET", present, absent) == (
            "-",
            b"TRYAGAIN Multiple keys request during rehashing of slot",
        )
        assert b.call("GET", absent) == ("-", f"MOVED {slot} {source.address}".encode())
        assert b.call("ASKING") == ("+", b"OK")
        assert b.call("SET", absent, "2") == ("+", b"OK")
        assert b.call("GET", absent)[1].startswith(b"MOVED ")  # ASKING held for one command
        assert b.call("ASKING") == ("+", b"OK")
        assert b.call("MGET", absent, f"{{{tag}}}other") == (
            "-",
            b"TRYAGAIN Multiple keys request during rehashing of slot",
        )
        nodes = a.call("CLUSTER", "NODES").decode()
        assert f"[{slot}->-" in nodes
    finally:
        a.close()
        b.close()


def test_a_replica_serves_reads_after_readonly(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    primary, replica = start_nodes(
        server_factory,
        tmp_path,
        [("a", "primary"), ("a", "replica")],
        {"a": [[0, 16383]]},
    )
    conn = RawConnection(replica.host, replica.port)
    try:
        key = key_in(0, 16383)
        slot = conn.call("CLUSTER", "KEYSLOT", key)
        assert conn.call("GET", key) == ("-", f"MOVED {slot} {primary.address}".encode())
        assert conn.call("READONLY") == ("+", b"OK")
        assert conn.call("GET", key) is None
        assert conn.call("SET", key, "1") == ("-", f"MOVED {slot} {primary.address}".encode())
        assert conn.call("READWRITE") == ("+", b"OK")
        assert conn.call("GET", key)[1].startswith(b"MOVED ")
        nodes = conn.call("CLUSTER", "NODES").decode()
        assert f" myself,slave {conn.call('CLUSTER', 'SLOTS')[0][2][2].decode()} " in nodes
    finally:
        conn.close()


def test_a_bad_topology_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "topology.json"
    path.write_text('{"version": 1, "shards": [{"id": "a", "slots": [[0, 20000]], "members": []}]}')
    done = run_server_to_exit("--cluster-enabled", "--cluster-topology-file", str(path))
    assert done.returncode == 2
    assert "slot 20000 is out of range" in done.stderr
