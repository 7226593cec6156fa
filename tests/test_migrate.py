"""MIGRATE against real servers: kvstore -> redis-server with every reply compared byte for
byte with redis-server -> redis-server, redis-server -> kvstore (RESTORE), kvstore -> kvstore,
and the keys in flight: writes to them wait for the target's answer while the rest of the
server goes on (the target held by its own CLIENT PAUSE)."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from conftest import VARIANTS, ServerProcess, closed_port, start_server, wait_for
from redis_compare import Raw, RawConnection, start_reference_redis
from replication_support import contents, start_replica, wait_caught_up
from test_client_support import RedisServer


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def peers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RedisServer, RedisServer, ServerProcess]]:
    """A redis-server source, a redis-server target, and a kvstore source (each build)."""
    source = start_reference_redis(tmp_path_factory.mktemp("migrate-source"))
    target = start_reference_redis(tmp_path_factory.mktemp("migrate-target"))
    kvstore = start_server("--no-persist", *VARIANTS[request.param])
    yield source, target, kvstore
    kvstore.stop()
    target.stop()
    source.stop()


def _run_on(
    source_port: int,
    target: RawConnection,
    setup: Sequence[tuple[str, ...]],
    migrate: tuple[str, ...],
) -> tuple[Raw, list[Raw]]:
    """Flush both, run ``setup`` on the source (commands starting with ``target``: on the
    target), MIGRATE; its reply and what both hold after."""
    source = RawConnection("127.0.0.1", source_port)
    try:
        source.call("FLUSHALL")
        target.call("FLUSHALL")
        for command in setup:
            if command[0] == "target":
                target.call(*command[1:])
            else:
                source.call(*command)
        reply = source.call("MIGRATE", *migrate)
        state = [
            source.call("MGET", "a", "b", "c"),
            target.call("MGET", "a", "b", "c"),
            target.call("DBSIZE"),
            source.call("DBSIZE"),
        ]
        ttl = target.call("PTTL", "a")
        state.append(ttl if not isinstance(ttl, int) or ttl < 0 else "has a deadline")
        return reply, state
    finally:
        source.close()


def _cases(
    target_port: int, closed: int
) -> list[tuple[Sequence[tuple[str, ...]], tuple[str, ...]]]:
    here = ("127.0.0.1", str(target_port))
    setup = [("SET", "a", "1"), ("SET", "b", "2")]
    return [
        ([], (*here, "a", "0", "1000")),  # NOKEY
        (setup, (*here, "a", "0", "1000")),
        ([*setup, ("PEXPIRE", "a", "100000")], (*here, "a", "0", "1000")),
        (setup, (*here, "", "0", "1000", "KEYS", "a", "b", "c")),
        (setup, (*here, "a", "0", "1000", "KEYS", "b")),  # KEYS needs an empty key
        (setup, (*here, "a", "0", "1000", "COPY")),
        ([*setup, ("target", "SET", "a", "old")], (*here, "a", "0", "1000")),  # BUSYKEY
        ([*setup, ("target", "SET", "a", "old")], (*here, "a", "0", "1000", "REPLACE")),
        ([*setup, ("target", "SET", "b", "old")], (*here, "", "0", "1000", "KEYS", "a", "b")),
        (setup, (*here, "a", "0", "1000", "AUTH", "nope")),  # the target has no password
        (setup, (*here, "a", "0", "1000", "AUTH2", "who", "nope")),
        (setup, (*here, "a", "0", "1000", "AUTH")),
        (setup, (*here, "a", "0", "1000", "AUTH2", "who")),
        (setup, (*here, "a", "0", "1000", "NOSUCH")),
        (setup, (*here, "a", "0", "soon")),
        (setup, (*here, "a", "zero", "1000")),
        (setup, (*here, "a", "99", "1000")),  # the target's SELECT fails
        (setup, (*here, "a", "0", "-5")),  # a timeout <= 0 is one second
        (setup, ("127.0.0.1", str(closed), "a", "0", "1000")),  # IOERR connecting
    ]


def test_replies_and_effects_are_redis_s(
    peers: tuple[RedisServer, RedisServer, ServerProcess],
) -> None:
    source, target, kvstore = peers
    connection = RawConnection("127.0.0.1", target.port)
    differences = []
    with closed_port() as closed:
        for setup, migrate in _cases(target.port, closed):
            expected = _run_on(source.port, connection, setup, migrate)
            actual = _run_on(kvstore.port, connection, setup, migrate)
            if expected != actual:
                differences.append(f"{migrate}: redis {expected!r}\n  kvstore {actual!r}")
    connection.close()
    assert not differences, "\n".join(differences)


def test_a_target_that_never_answers_is_an_ioerr_as_redis_s(
    peers: tuple[RedisServer, RedisServer, ServerProcess],
) -> None:
    source, _, kvstore = peers
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never reads or answers
    try:
        port = silent.getsockname()[1]
        replies = []
        for source_port in (source.port, kvstore.port):
            connection = RawConnection("127.0.0.1", source_port)
            connection.call("SET", "a", "1")
            replies.append(connection.call("MIGRATE", "127.0.0.1", port, "a", 0, 100))
            replies.append(connection.call("GET", "a"))  # kept: the target took nothing
            connection.close()
    finally:
        silent.close()
    assert replies[:2] == replies[2:]
    assert replies[0] == ("-", b"IOERR error or timeout reading to target instance")


def test_redis_server_migrates_to_kvstore(
    peers: tuple[RedisServer, RedisServer, ServerProcess],
) -> None:
    source, _, kvstore = peers
    connection = RawConnection("127.0.0.1", source.port)
    ours = RawConnection("127.0.0.1", kvstore.port)
    ours.call("FLUSHALL")
    connection.call("SET", "a", "x" * 1000)
    connection.call("SET", "b", "12345")
    connection.call("PEXPIRE", "b", 100_000)
    reply = connection.call("MIGRATE", "127.0.0.1", kvstore.port, "", 0, 1000, "KEYS", "a", "b")
    assert reply == ("+", b"OK")
    assert connection.call("EXISTS", "a", "b") == 0
    assert ours.call("MGET", "a", "b") == [b"x" * 1000, b"12345"]
    assert 0 < ours.call("PTTL", "b") <= 100_000
    connection.close()
    ours.close()


def test_kvstore_migrates_to_kvstore(tmp_path: Path) -> None:
    source, target = start_server("--no-persist"), start_server("--no-persist")
    try:
        connection = RawConnection("127.0.0.1", source.port)
        values = {f"k{i}": f"v{i}" * i for i in range(50)}
        for key, value in values.items():
            connection.call("SET", key, value)
        reply = connection.call("MIGRATE", "127.0.0.1", target.port, "", 3, 1000, "KEYS", *values)
        assert reply == ("+", b"OK")
        assert connection.call("DBSIZE") == 0
        other = RawConnection("127.0.0.1", target.port)
        other.call("SELECT", 3)
        assert other.call("MGET", *values) == [value.encode() for value in values.values()]
        other.close()
        connection.close()
    finally:
        source.stop()
        target.stop()


def _blocked_clients(connection: RawConnection) -> int:
    info = connection.call("INFO", "clients").decode()
    return int(info.split("blocked_clients:")[1].split()[0])


def test_writes_to_keys_in_flight_wait_for_the_target(
    peers: tuple[RedisServer, RedisServer, ServerProcess],
) -> None:
    """The target (redis-server) paused: MIGRATE cannot finish; meanwhile a write to the key
    waits, reads and other writes go on, the migrating client's next request waits behind its
    MIGRATE. Once the target answers, the write runs after the key left: nothing is lost."""
    _, target, kvstore = peers
    target_connection = RawConnection("127.0.0.1", target.port)
    target_connection.call("FLUSHALL")
    migrating = RawConnection("127.0.0.1", kvstore.port)
    writer = RawConnection("127.0.0.1", kvstore.port)
    other = RawConnection("127.0.0.1", kvstore.port)
    try:
        other.call("FLUSHALL")
        other.call("SET", "a", "before")
        assert target_connection.call("CLIENT", "PAUSE", 60_000, "WRITE") == ("+", b"OK")
        migrating.sock.sendall(
            b"*6\r\n$7\r\nMIGRATE\r\n$9\r\n127.0.0.1\r\n"
            + f"${len(str(target.port))}\r\n{target.port}\r\n".encode()
            + b"$1\r\na\r\n$1\r\n0\r\n$5\r\n10000\r\n*1\r\n$4\r\nPING\r\n"
        )
        wait_for(lambda: _blocked_clients(other) == 0 and _migrating(other), 10, "MIGRATE sent")
        writer.sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nafter\r\n")
        wait_for(lambda: _blocked_clients(other) == 1, 10, "the write to be held")
        text = socket.create_connection(("127.0.0.1", kvstore.port), timeout=10)
        text.sendall(b"set a text\r\nget b\r\n")  # the text protocol: held as well
        wait_for(lambda: _blocked_clients(other) == 2, 10, "the text write to be held")
        assert other.call("GET", "a") == b"before"  # reads go on
        assert other.call("SET", "b", "free") == ("+", b"OK")  # so do other keys' writes
        assert target_connection.call("CLIENT", "UNPAUSE") == ("+", b"OK")
        assert migrating._reply() == ("+", b"OK")
        assert migrating._reply() == ("+", b"PONG")
        assert writer._reply() == ("+", b"OK")
        assert target_connection.call("GET", "a") == b"before"
        text_replies = text.makefile("rb")
        assert text_replies.readline() == b"OK\r\n"
        assert text_replies.readline() == b"free\r\n"  # the line behind it waited too
        assert other.call("GET", "a") in (b"after", b"text")
        text.close()
    finally:
        target_connection.call("CLIENT", "UNPAUSE")
        for connection in (target_connection, migrating, writer, other):
            connection.close()


def _migrating(connection: RawConnection) -> bool:
    """Whether a client of ``connection``'s server is running MIGRATE now."""
    listing = connection.call("CLIENT", "LIST").decode()
    return "cmd=migrate" in listing


def test_migrate_inside_multi_is_refused(
    peers: tuple[RedisServer, RedisServer, ServerProcess],
) -> None:
    _, target, kvstore = peers
    connection = RawConnection("127.0.0.1", kvstore.port)
    connection.call("SET", "a", "1")
    connection.call("MULTI")
    connection.call("MIGRATE", "127.0.0.1", target.port, "a", 0, 1000)
    reply = connection.call("EXEC")
    assert reply == [
        ("-", b"ERR MIGRATE cannot run inside MULTI, a script or a text-protocol session")
    ]
    assert connection.call("GET", "a") == b"1"
    connection.close()


def _cached_sockets(connection: RawConnection) -> int:
    info = connection.call("INFO", "stats").decode()
    return int(info.split("migrate_cached_sockets:")[1].split()[0])


def test_the_connection_is_kept_and_replaced_once_the_target_closed_it(
    peers: tuple[RedisServer, RedisServer, ServerProcess],
) -> None:
    """As Redis: the connection to a target is kept for the next MIGRATE, and one the target
    closed meanwhile is replaced without an error."""
    source, target, kvstore = peers
    target_connection = RawConnection("127.0.0.1", target.port)
    for port in (source.port, kvstore.port):
        connection = RawConnection("127.0.0.1", port)
        connection.call("SET", "a", "1")
        assert connection.call("MIGRATE", "127.0.0.1", target.port, "a", 0, 1000, "REPLACE") == (
            "+",
            b"OK",
        )
        assert _cached_sockets(connection) >= 1  # this target's (and earlier tests' others)
        listing = target_connection.call("CLIENT", "LIST").decode().splitlines()
        kept = [line.split()[0].split("=")[1] for line in listing if "cmd=restore" in line]
        assert kept  # this source's, and the other's from an earlier test
        for client_id in kept:
            assert target_connection.call("CLIENT", "KILL", "ID", client_id) == 1
        connection.call("SET", "a", "2")
        assert connection.call("MIGRATE", "127.0.0.1", target.port, "a", 0, 1000, "REPLACE") == (
            "+",
            b"OK",
        )
        assert target_connection.call("GET", "a") == b"2"
        connection.close()
    target_connection.close()


def test_keys_migrated_away_leave_the_replicas_and_the_log(
    peers: tuple[RedisServer, RedisServer, ServerProcess], tmp_path: Path
) -> None:
    """The deletion is logged and replicated as a DEL, as Redis propagates MIGRATE: a replica
    and a restart of the source agree with the source."""
    _, target, _ = peers
    primary = start_server("--dir", str(tmp_path / "primary"))
    replica = start_replica(primary)
    try:
        connection = RawConnection("127.0.0.1", primary.port)
        connection.call("MSET", "a", "1", "b", "2", "c", "3")
        reply = connection.call(
            "MIGRATE", "127.0.0.1", target.port, "", 0, 1000, "REPLACE", "KEYS", "a", "b"
        )
        assert reply == ("+", b"OK")
        connection.close()
        wait_caught_up(primary, replica)
        assert contents(replica) == contents(primary) == {(0, b"c"): b"3"}
        primary.stop()
        primary = start_server("--dir", str(tmp_path / "primary"))
        assert contents(primary) == {(0, b"c"): b"3"}
    finally:
        replica.stop()
        primary.stop()
