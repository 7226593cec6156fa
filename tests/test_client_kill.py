"""CLIENT LIST, CLIENT INFO, CLIENT KILL and CLIENT NO-EVICT on a real server, with the
fields and errors of a real redis-server 7.0."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis

from conftest import ServerProcess, read_exactly, read_to_eof
from kvstore.protocol import encode_request
from test_client_support import RedisServer, start_redis_server


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    process = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield process
    process.stop()


def fields(line: bytes) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.decode().split())


def info(port: int) -> dict[str, str]:
    """CLIENT INFO of a connection in database 5, and CLIENT LIST's line for one in MULTI."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(encode_request([b"SELECT", b"5"]) + encode_request([b"CLIENT", b"INFO"]))
        data = b""
        while not data.endswith(b"\n\r\n"):
            data += sock.recv(4096)
        return fields(data.split(b"\r\n", 2)[2].rstrip(b"\r\n"))


def test_client_info_has_redis_fields(server: ServerProcess, reference: RedisServer) -> None:
    ours = info(server.port)
    theirs = info(reference.port)
    assert [name for name in ours if not name.startswith("lib-")] == list(theirs)
    assert (ours["db"], ours["flags"], ours["multi"], ours["resp"]) == ("5", "N", "-1", "2")
    assert (theirs["db"], theirs["flags"], theirs["multi"]) == ("5", "N", "-1")
    assert int(ours["fd"]) > 0


def test_client_list_shows_a_transaction(server: ServerProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(encode_request([b"CLIENT", b"ID"]))
        me = sock.recv(100)[1:].strip()
        sock.sendall(encode_request([b"MULTI"]) + encode_request([b"PING"]))
        assert read_exactly(sock, len(b"+OK\r\n+QUEUED\r\n")) == b"+OK\r\n+QUEUED\r\n"
        r = redis.Redis(port=server.port, socket_timeout=10)
        line = r.execute_command("CLIENT", "LIST", "ID", me)  # type: ignore[no-untyped-call]
        assert (fields(line)["flags"], fields(line)["multi"]) == ("x", "1")


def test_client_list_filters_and_no_evict(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port, socket_timeout=10)
    me = r.client_id()
    r.execute_command("CLIENT", "NO-EVICT", "on")  # type: ignore[no-untyped-call]
    listed = r.execute_command("CLIENT", "LIST", "ID", str(me))  # type: ignore[no-untyped-call]
    assert fields(listed.splitlines()[0])["flags"] == "e"
    assert r.execute_command("CLIENT", "LIST", "TYPE", "pubsub") == b""  # type: ignore[no-untyped-call]
    with pytest.raises(redis.ResponseError, match="Invalid client ID"):
        r.execute_command("CLIENT", "LIST", "ID", "0")  # type: ignore[no-untyped-call]


def test_client_kill_forms(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port, socket_timeout=10)
    victims = [socket.create_connection((server.host, server.port), timeout=10) for _ in range(3)]
    try:
        ids = []
        for sock in victims:
            sock.sendall(encode_request([b"CLIENT", b"ID"]))
            ids.append(int(sock.recv(100)[1:].strip()))
        host, port = victims[0].getsockname()[:2]
        addr = f"{host}:{port}"
        assert r.execute_command("CLIENT", "KILL", addr) == b"OK"  # type: ignore[no-untyped-call]
        assert read_to_eof(victims[0]) == b""
        with pytest.raises(redis.ResponseError, match="No such client"):
            r.execute_command("CLIENT", "KILL", addr)  # type: ignore[no-untyped-call]
        assert r.client_kill_filter(_id=str(ids[1])) == 1
        assert read_to_eof(victims[1]) == b""
        host, port = victims[2].getpeername()[:2]
        laddr = f"{host}:{port}"
        # SKIPME yes (the default) spares the caller, though its laddr matches too.
        killed = r.execute_command("CLIENT", "KILL", "LADDR", laddr, "USER", "default")  # type: ignore[no-untyped-call]
        assert killed >= 1
        assert read_to_eof(victims[2]) == b""
        assert r.ping()
        with pytest.raises(redis.ResponseError, match="No such user 'nobody'"):
            r.execute_command("CLIENT", "KILL", "USER", "nobody")  # type: ignore[no-untyped-call]
    finally:
        for sock in victims:
            sock.close()


def test_client_kill_skipme_no_answers_then_closes(server: ServerProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(encode_request([b"CLIENT", b"ID"]))
        me = sock.recv(100)[1:].strip()
        sock.sendall(encode_request([b"CLIENT", b"KILL", b"ID", me, b"SKIPME", b"no"]))
        assert read_exactly(sock, 4) == b":1\r\n"
        assert read_to_eof(sock) == b""
