"""INFO and TIME: the layout Redis 7 uses, the sections and their selection, fields that track
the server's state, redis-py's and redis-cli's readings, and the section registry."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from conftest import ServerProcess, read_exactly, wait_for
from kvstore.commands import ServerState, Session
from kvstore.commands.info import _SECTIONS, InfoFields, info_section, render_info
from kvstore.commands.info_sections import human_bytes
from kvstore.protocol import encode_request
from test_client_support import (
    REDIS_CLI,
    RedisServer,
    run_client,
    run_redis_cli,
    start_redis_server,
)

DEFAULT_SECTIONS = [
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Replication",
    "CPU",
    "Cluster",
    "Keyspace",
]
#: INFO all/everything: the default sections and the per-command and per-error ones.
ALL_SECTIONS = [
    *DEFAULT_SECTIONS[:-2],
    "Commandstats",
    "Errorstats",
    "Latencystats",
    "Cluster",
    "Keyspace",
]


def raw(sock: socket.socket, *args: str) -> bytes:
    """Send one command; return its bulk-string reply's payload."""
    sock.sendall(encode_request([arg.encode() for arg in args]))
    header = b""
    while not header.endswith(b"\r\n"):
        header += read_exactly(sock, 1)
    assert header.startswith(b"$"), header
    return read_exactly(sock, int(header[1:]) + 2)[:-2]


def titles(text: bytes) -> list[str]:
    return [line[2:].decode() for line in text.split(b"\r\n") if line.startswith(b"# ")]


@pytest.fixture(scope="module")
def redis_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    peer = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield peer
    peer.stop()


@pytest.fixture
def client(fast_server: ServerProcess) -> Iterator[redis.Redis]:
    r = redis.Redis(port=fast_server.port)
    yield r
    r.close()


def test_layout_is_redis_7s(fast_server: ServerProcess, redis_peer: RedisServer) -> None:
    with fast_server.connect() as sock:
        text = raw(sock, "INFO", "clients", "keyspace")
    assert text.startswith(b"# Clients\r\nconnected_clients:")
    clients, keyspace = text.split(b"\r\n\r\n")  # a blank line between sections
    assert clients.split(b"\r\n")[0] == b"# Clients"
    for line in clients.split(b"\r\n")[1:]:
        assert re.fullmatch(rb"[a-z0-9_]+:\S+", line), line
    assert keyspace.startswith(b"# Keyspace\r\n")
    with socket.create_connection(("127.0.0.1", redis_peer.port), timeout=10) as sock:
        theirs = raw(sock, "INFO", "clients", "keyspace")
    for info in (text, theirs):
        assert titles(info) == ["Clients", "Keyspace"]
        assert info.count(b"\r\n\r\n") == 1
        assert info.endswith(b"\r\n")
        assert not info.endswith(b"\r\n\r\n")


def test_section_selection(fast_server: ServerProcess) -> None:
    with fast_server.connect() as sock:
        assert titles(raw(sock, "INFO")) == DEFAULT_SECTIONS
        assert titles(raw(sock, "INFO", "default")) == DEFAULT_SECTIONS
        assert titles(raw(sock, "INFO", "all")) == ALL_SECTIONS
        assert titles(raw(sock, "INFO", "everything")) == ALL_SECTIONS
        # several names, any case, repeated or unknown: Redis's order, each once
        assert titles(raw(sock, "INFO", "KEYSPACE", "nosuch", "server", "Server")) == [
            "Server",
            "Keyspace",
        ]
        assert raw(sock, "INFO", "nosuch") == b""


def test_redis_py_reads_every_field(client: redis.Redis) -> None:
    client.flushall()
    client.set("a", "1")
    client.set("b", "2", ex=100)
    info = client.info("all")
    assert info["redis_version"] == "7.0.0"
    assert info["redis_mode"] == "standalone"
    assert info["connected_clients"] >= 1
    assert info["uptime_in_seconds"] >= 0
    assert info["used_memory"] > 0
    assert info["used_memory_human"].endswith("B") or info["used_memory_human"][-1] in "KMGTP"
    assert info["role"] == "master"
    assert isinstance(info["used_cpu_user"], float)
    assert info["db0"] == {"keys": 2, "expires": 1, "avg_ttl": 0}
    if os.path.exists("/proc/self/statm"):
        assert info["used_memory_rss"] > 1_000_000  # a Python process is never this small
    assert client.info("nosuch") == {}
    resp3 = redis.Redis(port=client.connection_pool.connection_kwargs["port"], protocol=3)
    assert resp3.info("keyspace") == {"db0": {"keys": 2, "expires": 1, "avg_ttl": 0}}
    resp3.close()


def test_counters_follow_the_server(client: redis.Redis) -> None:
    client.flushall()
    before = client.info("stats")
    client.set("hit", "v")
    assert client.get("hit") == b"v"
    assert client.get("miss") is None
    with pytest.raises(redis.ResponseError):
        client.execute_command("SELECT", "99")  # type: ignore[no-untyped-call]
    client.set("short", "v", px=1)
    dbsizes = 0

    def expired() -> bool:
        nonlocal dbsizes
        dbsizes += 1
        return bool(client.dbsize() == 1)

    wait_for(expired, 10, "the key to expire")
    after = client.info("stats")
    assert after["keyspace_hits"] - before["keyspace_hits"] == 1
    assert after["keyspace_misses"] - before["keyspace_misses"] == 1
    assert after["expired_keys"] - before["expired_keys"] == 1
    assert after["total_error_replies"] - before["total_error_replies"] == 1
    # SET, GET, GET, SELECT (failed, still run), SET, the DBSIZEs, and the second INFO (each
    # INFO counts itself); the key may expire before the first DBSIZE, so count those.
    assert after["total_commands_processed"] - before["total_commands_processed"] == 6 + dbsizes
    assert client.info("keyspace") == {"db0": {"keys": 1, "expires": 0, "avg_ttl": 0}}
    client.flushall()
    assert client.info("keyspace") == {}


def test_connections_are_counted(fast_server: ServerProcess, client: redis.Redis) -> None:
    before = client.info("clients")["connected_clients"]
    received = client.info("stats")["total_connections_received"]
    with fast_server.connect() as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert read_exactly(sock, 7) == b"+PONG\r\n"
        assert client.info("clients")["connected_clients"] == before + 1
        assert client.info("stats")["total_connections_received"] == received + 1
    wait_for(lambda: client.info("clients")["connected_clients"] == before, 10, "the disconnection")


def test_instantaneous_ops_per_sec_sees_a_burst(client: redis.Redis) -> None:
    with client.pipeline(transaction=False) as pipe:
        for _ in range(2_000):
            pipe.ping()
        pipe.execute()
    # The rate is sampled every 100 ms over the last 1.6 s: the burst shows up in it.
    wait_for(lambda: client.info("stats")["instantaneous_ops_per_sec"] > 0, 10, "a non-zero rate")


def test_redis_cli_info(fast_server: ServerProcess) -> None:
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed")
    result = subprocess.run(
        [REDIS_CLI, "-p", str(fast_server.port), "info", "server"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "# Server"
    assert "redis_version:7.0.0" in lines
    assert f"tcp_port:{fast_server.port}" in lines


def test_client_prints_info_as_redis_cli(fast_server: ServerProcess, client: redis.Redis) -> None:
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed")
    client.flushall()
    client.set("a", "1")
    command = ["info", "keyspace", "replication"]
    expected = run_redis_cli(fast_server.port, command)
    assert expected.stdout.endswith(b"\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n")
    assert run_client(fast_server.address, *command).stdout == expected.stdout


def test_time(fast_server: ServerProcess, client: redis.Redis) -> None:
    seconds, micros = client.time()
    assert abs(seconds + micros / 1e6 - time.time()) < 60  # the same clock, not a latency test
    assert 0 <= micros < 1_000_000
    with fast_server.connect() as sock:
        sock.sendall(b"*2\r\n$4\r\nTIME\r\n$1\r\nx\r\n")
        expected = b"-ERR wrong number of arguments for 'time' command\r\n"
        assert read_exactly(sock, len(expected)) == expected


def test_text_protocol_info(fast_server: ServerProcess) -> None:
    with fast_server.connect() as sock:
        sock.sendall(b"info keyspace\r\n")
        assert read_exactly(sock, len(b"# Keyspace\r\n")) == b"# Keyspace\r\n"


# -- the registry ------------------------------------------------------------------------------


def test_other_modules_add_sections_and_fields() -> None:
    state = ServerState()
    session = Session(state)
    registered = dict(_SECTIONS)
    try:

        @info_section("persistence")
        def persistence(session: Session) -> InfoFields:
            return {"aof_enabled": 0, "rdb_changes_since_last_save": len(session.db)}

        @info_section("stats")
        def extra_stats(session: Session) -> InfoFields:
            return {"evicted_keys": 7}

        @info_section("hidden", default=False)
        def hidden(session: Session) -> InfoFields:
            return {"secret": "x"}

        text = render_info(session, [])
        # persistence keeps Redis's place, between memory and stats
        assert titles(text.encode()).index("Persistence") == DEFAULT_SECTIONS.index("Persistence")
        assert "aof_enabled:0\r\nrdb_changes_since_last_save:0\r\n" in text
        stats = text.split("# Stats\r\n")[1].split("\r\n\r\n")[0]
        assert stats.endswith("evicted_keys:7")  # after the built-in fields
        assert "# Hidden" not in text
        assert render_info(session, [b"hidden"]) == "# Hidden\r\nsecret:x\r\n"
        assert "# Hidden" in render_info(session, [b"all"])
    finally:
        _SECTIONS["stats"].providers.remove(extra_stats)
        _SECTIONS.clear()
        _SECTIONS.update(registered)


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0B"), (1023, "1023B"), (1024, "1.00K"), (1394352, "1.33M"), (25276502016, "23.54G")],
)
def test_human_bytes_as_redis_writes_them(count: int, text: str) -> None:
    assert human_bytes(count) == text


def changes_counted(port: int) -> list[int]:
    """rdb_changes_since_last_save after each of a few writes, and writes that change nothing."""
    r = redis.Redis(port=port)
    try:
        r.flushall()
        start = int(r.info("persistence")["rdb_changes_since_last_save"])
        seen = []
        for args in (
            ("SET", "a", "1"),
            ("SETBIT", "b", "0", "0"),  # creates the key: a change
            ("SETBIT", "b", "0", "0"),  # the same bit: none
            ("INCR", "a"),
            ("DEL", "nosuch"),  # nothing deleted: none
        ):
            r.execute_command(*args)  # type: ignore[no-untyped-call]
            seen.append(int(r.info("persistence")["rdb_changes_since_last_save"]) - start)
        return seen
    finally:
        r.close()


def test_changes_are_counted_without_persistence(
    server_factory: Callable[..., ServerProcess], redis_peer: RedisServer
) -> None:
    # A Redis that never saves (save "") still counts them; Redis's suite reads the count
    # (unit/bitops "SETBIT/BITFIELD only increase dirty when the value changed").
    server = server_factory("--no-persist")
    assert changes_counted(server.port) == changes_counted(redis_peer.port) == [1, 2, 2, 3, 3]


def test_stats_fields_redis_has_that_kvstore_keeps_at_zero(
    fast_server: ServerProcess, redis_peer: RedisServer
) -> None:
    for port in (fast_server.port, redis_peer.port):
        r = redis.Redis(port=port)
        try:
            assert r.info("stats")["migrate_cached_sockets"] == 0
        finally:
            r.close()
