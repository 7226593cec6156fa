"""Cluster clients against two shards of primary + replica on loopback: redis-py's RedisCluster
(sync and asyncio, reading from replicas over RESP3), ``redis-cli -c``, ``redis-benchmark
--cluster``, kvstore's ClusterClient and ``./client -c``. Each checks its history: every write
that got OK reads back with its value from the shard's primary and, after ``WAIT 1 0``, from
its replica. And CLUSTER SLOTS/SHARDS/NODES describe the replicas as a real Redis cluster of
the same shape does."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from redis.cluster import RedisCluster

import kvstore
from conftest import CLIENT
from redis_compare import RawConnection
from replicated_cluster_support import (
    WAIT_TIMEOUT,
    History,
    ReplicatedShard,
    read_all,
    redis_replicated_cluster,
    replicated_cluster,
)

KEYS = 60
#: redis-py 8 still honours read_from_replicas=True (READONLY, then reads shared between a
#: shard's primary and replicas), with a warning that names its successor.
READ_FROM_REPLICAS_WARNING = (
    "ignore:Call to '__init__' function with deprecated usage:DeprecationWarning"
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ReplicatedShard]]:
    with replicated_cluster(tmp_path_factory.mktemp("replicated")) as started:
        yield started


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install redis-tools)")
    return path


def _call(host: str, port: int, *args: str | int) -> Any:
    conn = RawConnection(host, port, timeout=WAIT_TIMEOUT)
    try:
        return conn.call(*args)
    finally:
        conn.close()


def _clients(host: str, port: int) -> list[dict[str, str]]:
    """CLIENT LIST as one dict per client."""
    text = _call(host, port, "CLIENT", "LIST")
    assert isinstance(text, bytes)
    return [
        dict(field.split("=", 1) for field in line.split(" "))
        for line in text.decode().splitlines()
    ]


def _calls(host: str, port: int, command: str) -> int:
    """How many times the node ran ``command`` (INFO commandstats)."""
    text = _call(host, port, "INFO", "commandstats")
    assert isinstance(text, bytes)
    found = re.search(rf"^cmdstat_{re.escape(command)}:calls=(\d+),", text.decode(), re.M)
    return 0 if found is None else int(found.group(1))


def _values(prefix: str) -> list[tuple[str, str]]:
    """Writes to make: every key twice, so only the later value is the acknowledged one."""
    keys = [f"{prefix}:{index}" for index in range(KEYS)]
    return [(key, f"{key}={round_}") for round_ in (1, 2) for key in keys]


# -- redis-py -----------------------------------------------------------------------------------


def _redis_py_clients_on_replicas(shards: list[ReplicatedShard]) -> None:
    """Each replica served GETs to a redis-py connection that said HELLO 3 and CLIENT SETINFO."""
    for shard in shards:
        replica = shard.replica
        assert _calls(replica.host, replica.port, "readonly") > 0
        seen = [
            client
            for client in _clients(replica.host, replica.port)
            if client["lib-name"] == "redis-py"
            and client["lib-ver"] == redis.__version__
            and client["resp"] == "3"
        ]
        assert seen, _clients(replica.host, replica.port)
        assert any(client["cmd"] == "get" for client in seen)


@pytest.mark.filterwarnings(READ_FROM_REPLICAS_WARNING)
def test_redis_py_cluster_reads_from_replicas(shards: list[ReplicatedShard]) -> None:
    history = History()
    gets_before = [_calls(s.replica.host, s.replica.port, "get") for s in shards]
    entry = shards[0].primary
    client = RedisCluster(host=entry.host, port=entry.port, protocol=3, read_from_replicas=True)
    try:
        for key, value in _values("py"):
            history.record(key, value, client.set(key, value) is True)
        history.check(shards)  # the replicas have every write now
        expected = [value.encode() for _key, value in _values("py")[KEYS:]]
        # Round robin between a shard's primary and replica: two reads of each key.
        assert [client.get(key) for key, _value in _values("py")] == expected * 2
        _redis_py_clients_on_replicas(shards)
    finally:
        client.close()
    gets_after = [_calls(s.replica.host, s.replica.port, "get") for s in shards]
    assert all(after > before for before, after in zip(gets_before, gets_after, strict=True))


@pytest.mark.filterwarnings(READ_FROM_REPLICAS_WARNING)
def test_redis_py_asyncio_cluster_reads_from_replicas(shards: list[ReplicatedShard]) -> None:
    history = History()
    entry = shards[1].replica  # any node will do to load the slot map

    async def main() -> list[Any]:
        client = redis.asyncio.RedisCluster(
            host=entry.host, port=entry.port, protocol=3, read_from_replicas=True
        )
        try:
            for key, value in _values("apy"):
                history.record(key, value, await client.set(key, value) is True)
            await asyncio.to_thread(history.check, shards)
            read = [await client.get(key) for key, _value in _values("apy")]
            await asyncio.to_thread(_redis_py_clients_on_replicas, shards)
            return read
        finally:
            await client.aclose()

    expected = [value.encode() for _key, value in _values("apy")[KEYS:]]
    assert asyncio.run(main()) == expected * 2


# -- redis-cli and redis-benchmark --------------------------------------------------------------


def test_redis_cli_sets_and_gets_across_both_shards(shards: list[ReplicatedShard]) -> None:
    history = History()
    # Through a primary and through a replica: both redirect the other shard's keys, and the
    # replica its own shard's writes.
    entries = [shards[0].primary, shards[1].replica]
    writes = _values("cli")[::4]
    acknowledged = 0
    for index, (key, value) in enumerate(writes):
        node = entries[index % 2]
        base = [_tool("redis-cli"), "-c", "-h", node.host, "-p", str(node.port)]
        done = subprocess.run(
            [*base, "set", key, value], capture_output=True, text=True, timeout=60, check=False
        )
        history.record(key, value, done.stdout == "OK\n")
        acknowledged += done.stdout == "OK\n"
        read = subprocess.run(
            [*base, "get", key], capture_output=True, text=True, timeout=60, check=False
        )
        assert read.stdout == f"{value}\n"
    assert acknowledged == len(writes)
    history.check(shards)


def test_redis_benchmark_cluster_writes_both_shards(shards: list[ReplicatedShard]) -> None:
    entry = shards[0].primary
    done = subprocess.run(
        [
            _tool("redis-benchmark"),
            "--cluster",
            *("-h", entry.host, "-p", str(entry.port)),
            *("-t", "set", "-n", "3000", "-c", "8", "-r", "1000", "-d", "5", "-q"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Cluster has 2 master nodes" in output, output
    assert re.search(r"SET: [\d.]+ requests per second", output), output
    assert "error" not in output.lower(), output
    # redis-benchmark reads CLUSTER NODES and writes only to the primaries, each its own keys
    # (key:{tag}:N, the tag in the node's slots), all with one random value of -d bytes: every
    # SET it made got OK (no error above).
    written = {}
    for shard in shards:
        conn = RawConnection(shard.primary.host, shard.primary.port)
        try:
            keys = _scan(conn, "key:{*")
        finally:
            conn.close()
        assert keys
        assert all(shard.serves(key) for key in keys)
        written.update(read_all(shard.primary, keys))
    values = set(written.values())
    assert len(values) == 1
    (value,) = values
    assert isinstance(value, bytes)
    assert len(value) == 5
    history = History()
    for key in written:
        history.record(key, value, True)
    history.check(shards)


def _scan(conn: RawConnection, pattern: str) -> list[bytes]:
    keys: list[bytes] = []
    cursor = b"0"
    while True:
        reply = conn.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        assert isinstance(reply, list)
        cursor, batch = reply
        assert isinstance(batch, list)
        keys += batch
        if cursor == b"0":
            return keys


# -- kvstore's own clients ----------------------------------------------------------------------


def test_cluster_client_history(shards: list[ReplicatedShard]) -> None:
    history = History()
    entries = [shards[1].replica.address, shards[0].primary.address]
    with kvstore.ClusterClient(entries) as client:
        for key, value in _values("lib"):
            history.record(key, value, client.set(key, value) is True)
        assert [client.get(key) for key, _value in _values("lib")[KEYS:]] == [
            value.encode() for _key, value in _values("lib")[KEYS:]
        ]
    history.check(shards)


def test_async_cluster_client_history(shards: list[ReplicatedShard]) -> None:
    history = History()

    async def main() -> None:
        async with kvstore.AsyncClusterClient(shards[0].replica.address) as client:
            for key, value in _values("alib"):
                history.record(key, value, await client.set(key, value) is True)

    asyncio.run(main())
    history.check(shards)


def test_cli_cluster_mode_history(shards: list[ReplicatedShard]) -> None:
    history = History()
    writes = _values("kcli")[::6]
    acknowledged = 0
    for index, (key, value) in enumerate(writes):
        node = (shards[0].replica, shards[1].primary)[index % 2]
        done = subprocess.run(
            [sys.executable, str(CLIENT), "-c", node.address, "set", key, value],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stderr == ""
        history.record(key, value, done.returncode == 0)
        acknowledged += done.returncode == 0
        read = subprocess.run(
            [sys.executable, str(CLIENT), "-c", node.address, "get", key],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (read.returncode, read.stdout) == (0, f"{value}\n")
    assert acknowledged == len(writes)
    history.check(shards)


# -- CLUSTER SLOTS / SHARDS / NODES with replicas, against a real Redis cluster -----------------


def _labels(lines: list[list[str]]) -> dict[str, str]:
    """Node IDs named by their place: P0, P1 the primaries in slot order, R0, R1 their replicas."""
    primaries = sorted(
        (words for words in lines if words[3] == "-"), key=lambda words: int(words[8].split("-")[0])
    )
    labels = {words[0]: f"P{index}" for index, words in enumerate(primaries)}
    for words in lines:
        if words[3] != "-":
            labels[words[0]] = "R" + labels[words[3]][1:]
    return labels


def _pairs(flat: list[Any]) -> dict[bytes, Any]:
    """A RESP2 map (a flat list of names and values) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _described(host: str, port: int) -> dict[str, Any]:
    """What one node says of the cluster, with what differs between any two clusters (node IDs,
    ports, timestamps, epochs' values) replaced by how it relates to the rest."""
    text = _call(host, port, "CLUSTER", "NODES")
    assert isinstance(text, bytes)
    lines = [line.split(" ") for line in text.decode().splitlines()]
    labels = _labels(lines)
    epochs = {words[0]: words[6] for words in lines}
    addresses = {words[0]: words[1].split("@")[0] for words in lines}
    nodes = sorted(
        (
            labels[words[0]],
            bool(re.fullmatch(r"127\.0\.0\.1:\d+@\d+", words[1])),
            words[2],
            "-" if words[3] == "-" else labels[words[3]],
            words[4:6] == [str(int(words[4])), str(int(words[5]))],
            words[3] == "-" or epochs[words[3]] == words[6],  # a replica shows its primary's
            words[7],
            words[8:],
        )
        for words in lines
    )
    ranges = _call(host, port, "CLUSTER", "SLOTS")
    assert isinstance(ranges, list)
    slots = sorted(
        (
            first,
            last,
            [
                (labels[node_id.decode()], f"{node_host.decode()}:{node_port}", extra)
                for node_host, node_port, node_id, extra in nodes_of
            ],
        )
        for first, last, *nodes_of in ranges
    )
    assert all(
        address == addresses[next(i for i, label in labels.items() if label == name)]
        for _first, _last, entries in slots
        for name, address, _extra in entries
    )
    shards = _call(host, port, "CLUSTER", "SHARDS")
    assert isinstance(shards, list)
    described_shards = []
    for shard in shards:
        fields = _pairs(shard)
        members = []
        for node in fields[b"nodes"]:
            member = _pairs(node)
            members.append(
                (
                    node[::2],  # the field names, in order
                    labels[member[b"id"].decode()],
                    *(member[name] for name in (b"role", b"health", b"ip", b"endpoint")),
                    type(member[b"replication-offset"]),
                )
            )
        described_shards.append((shard[::2], fields[b"slots"], members))
    return {
        "nodes": nodes,
        "slots": [
            (first, last, [name for name, _a, _e in entries]) for first, last, entries in slots
        ],
        "slot_extras": [[extra for _n, _a, extra in entries] for _f, _l, entries in slots],
        "shards": sorted(described_shards, key=lambda shard: shard[1]),
    }


def test_slots_shards_and_nodes_list_replicas_as_redis_does(
    shards: list[ReplicatedShard], tmp_path: Path
) -> None:
    with redis_replicated_cluster(tmp_path) as reference:
        for ours, theirs in (
            (shards[0].primary, reference[0].primary),
            (shards[1].replica, reference[1].replica),
        ):
            described = _described(ours.host, ours.port)
            assert described == _described(theirs.host, theirs.port)
    # The shape itself, spelt out: replicas flagged slave with their primary's ID, listed after
    # it in SLOTS and SHARDS, with the IDs CLUSTER NODES gives.
    flags = {entry[0]: (entry[2], entry[3]) for entry in described["nodes"]}
    assert flags == {
        "P0": ("master", "-"),
        "R0": ("slave", "P0"),
        "P1": ("master", "-"),
        "R1": ("myself,slave", "P1"),
    }
    assert described["slots"] == [(0, 8191, ["P0", "R0"]), (8192, 16383, ["P1", "R1"])]
    assert [[node[2] for node in shard[2]] for shard in described["shards"]] == [
        [b"master", b"replica"],
        [b"master", b"replica"],
    ]
