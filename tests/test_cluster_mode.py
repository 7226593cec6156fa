"""Single-node cluster mode: one server answering for all 16384 slots, so cluster clients
(redis-py's RedisCluster, sync and asyncio; redis-cli -c; redis-benchmark --cluster) work
against it (redis-benchmark --cluster wants two nodes at least: test_cluster_redirects.py),
and its refusals read as a real redis-server's in cluster mode."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from cluster_support import start_redis_cluster_node
from conftest import ServerProcess, start_server, wait_for
from redis_compare import RawConnection

CLUSTER = ("--cluster-enabled", "--no-persist")


@pytest.fixture(scope="module")
def node() -> Iterator[ServerProcess]:
    process = start_server(*CLUSTER)
    yield process
    process.stop()


@pytest.fixture
def conn(node: ServerProcess) -> Iterator[RawConnection]:
    raw = RawConnection(node.host, node.port)
    raw.call("FLUSHALL")
    yield raw
    raw.close()


def test_one_node_serves_every_slot(conn: RawConnection, node: ServerProcess) -> None:
    my_id = conn.call("CLUSTER", "MYID")
    assert re.fullmatch(rb"[0-9a-f]{40}", my_id)
    assert conn.call("CLUSTER", "SLOTS") == [[0, 16383, [b"127.0.0.1", node.port, my_id, []]]]
    nodes = conn.call("CLUSTER", "NODES").decode()
    assert (
        nodes
        == f"{my_id.decode()} 127.0.0.1:{node.port}@0 myself,master - 0 0 1 connected 0-16383\n"
    )
    info = conn.call("CLUSTER", "INFO").decode()
    assert "cluster_state:ok\r\n" in info
    assert "cluster_slots_assigned:16384\r\n" in info
    shards = conn.call("CLUSTER", "SHARDS")
    assert shards[0][:2] == [b"slots", [0, 16383]]
    assert b"cluster_enabled:1" in conn.call("INFO", "cluster")


def test_slot_commands(conn: RawConnection) -> None:
    conn.call("MSET", "{u}1", "a", "{u}2", "b")
    slot = conn.call("CLUSTER", "KEYSLOT", "{u}1")
    assert slot == conn.call("CLUSTER", "KEYSLOT", "u")
    assert conn.call("CLUSTER", "COUNTKEYSINSLOT", slot) == 2
    assert sorted(conn.call("CLUSTER", "GETKEYSINSLOT", slot, 10)) == [b"{u}1", b"{u}2"]
    assert conn.call("CLUSTER", "GETKEYSINSLOT", slot, 1) in ([b"{u}1"], [b"{u}2"])


def test_a_node_id_survives_a_restart(tmp_path: Path) -> None:
    first = start_server("--cluster-enabled", "--dir", str(tmp_path))
    try:
        raw = RawConnection(first.host, first.port)
        before = raw.call("CLUSTER", "MYID")
        raw.close()
    finally:
        first.stop()
    second = start_server("--cluster-enabled", "--dir", str(tmp_path))
    try:
        raw = RawConnection(second.host, second.port)
        assert raw.call("CLUSTER", "MYID") == before
        raw.close()
    finally:
        second.stop()


# -- the same refusals as redis-server in cluster mode -----------------------------------------

SCRIPT: list[tuple[str, ...]] = [
    ("SET", "a", "1"),
    ("MSET", "a", "1", "b", "2"),
    ("MGET", "{t}a", "{t}b", "c"),
    ("MGET", "{t}a", "{t}b"),
    ("SELECT", "1"),
    ("SELECT", "0"),
    ("SELECT", "x"),
    ("MOVE", "a", "1"),
    ("SWAPDB", "0", "1"),
    ("COPY", "a", "{a}b", "DB", "1"),
    ("COPY", "a", "{a}b", "DB", "0"),
    ("COPY", "a", "b"),
    ("RENAME", "a", "b"),
    ("CLUSTER", "KEYSLOT", "somekey"),
    ("CLUSTER", "COUNTKEYSINSLOT", "99999"),
    ("CLUSTER", "COUNTKEYSINSLOT", "x"),
    ("CLUSTER", "GETKEYSINSLOT", "1", "-1"),
    ("CLUSTER", "GETKEYSINSLOT", "x", "1"),
    ("CLUSTER", "KEYSLOT"),
    ("CLUSTER", "NOSUCH"),
    ("READONLY",),
    ("READWRITE",),
    ("ASKING",),
    ("MULTI",),
    ("SET", "{x}1", "1"),
    ("SET", "{y}1", "1"),
    ("EXEC",),
    ("MULTI",),
    ("SET", "{x}1", "1"),
    ("MSET", "{x}1", "1", "{y}1", "2"),
    ("EXEC",),
    ("PING",),
]


@pytest.fixture(scope="module")
def redis_cluster_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    redis_server = start_redis_cluster_node(tmp_path_factory.mktemp("redis"))
    raw = RawConnection("127.0.0.1", redis_server.port)
    raw.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    wait_for(
        lambda: b"cluster_state:ok" in raw.call("CLUSTER", "INFO"), 10, "redis cluster state ok"
    )
    raw.close()
    yield redis_server.port
    redis_server.stop()


def test_refusals_match_redis(redis_cluster_node: int, conn: RawConnection) -> None:
    reference = RawConnection("127.0.0.1", redis_cluster_node)
    reference.call("FLUSHALL")
    try:
        for args in SCRIPT:
            assert conn.call(*args) == reference.call(*args), args
    finally:
        reference.close()


# -- real cluster clients ----------------------------------------------------------------------


def test_redis_py_cluster_client(node: ServerProcess) -> None:
    client = RedisCluster(host=node.host, port=node.port)
    try:
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.incr("counter") == 1  # sent as INCRBY, looked up in COMMAND
        assert client.mset_nonatomic({"a": "1", "b": "2"}) == [True, True]  # one MSET per slot
        assert client.mget_nonatomic(["a", "b"]) == [b"1", b"2"]
        assert client.mset({"{t}a": "1", "{t}b": "2"}) is True  # one slot: one MSET
        assert client.mget("{t}a", "{t}b") == [b"1", b"2"]
        pipe = client.pipeline()  # type: ignore[no-untyped-call]
        pipe.set("{p}1", "x").get("{p}1")
        assert pipe.execute() == [True, b"x"]
        assert client.keyslot("foo") == 12182  # type: ignore[no-untyped-call]
        assert client.get_node(node.host, node.port) is not None  # type: ignore[no-untyped-call]
    finally:
        client.close()


def test_redis_py_asyncio_cluster_client(node: ServerProcess) -> None:
    async def main() -> None:
        client = redis.asyncio.RedisCluster(host=node.host, port=node.port, protocol=3)
        try:
            assert await client.set("ak", "v")
            assert await client.get("ak") == b"v"
            assert await client.incrby("acounter", 5) == 5
            assert await client.client_setinfo("LIB-NAME", "test") is True
        finally:
            await client.aclose()

    asyncio.run(main())


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install redis-tools)")
    return path


def test_redis_cli_in_cluster_mode(node: ServerProcess) -> None:
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    cli = _tool("redis-cli")
    base = [cli, "-c", "-p", str(node.port)]
    assert run([*base, "set", "cli-key", "v"], capture_output=True, text=True).stdout == "OK\n"
    assert run([*base, "get", "cli-key"], capture_output=True, text=True).stdout == "v\n"
