"""Differences from Redis that the differential test (``test_differential.py``) found, each
pinned by an example: the exact bytes Redis 7 sends, checked against kvstore."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import ServerProcess
from differential_support import RespConnection


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[RespConnection]:
    connection = RespConnection(server.host, server.port)
    assert connection.call([b"FLUSHALL"]).raw == b"+OK\r\n"
    yield connection
    connection.close()


def test_info_is_a_verbatim_string_over_resp3(conn: RespConnection) -> None:
    assert conn.call([b"SET", b"k", b"v"]).raw == b"+OK\r\n"
    assert conn.call([b"INFO", b"keyspace"]).kind == b"$"
    assert conn.call([b"HELLO", b"3"]).kind == b"%"
    reply = conn.call([b"INFO", b"keyspace"])
    body = b"txt:# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
    assert reply.raw == b"=%d\r\n%b\r\n" % (len(body), body)
    empty = conn.call([b"INFO", b"nosuchsection"])
    assert empty.raw == b"=4\r\ntxt:\r\n"
    # Inside EXEC too.
    assert conn.call([b"MULTI"]).raw == b"+OK\r\n"
    assert conn.call([b"INFO", b"nosuchsection"]).raw == b"+QUEUED\r\n"
    assert conn.call([b"EXEC"]).raw == b"*1\r\n=4\r\ntxt:\r\n"


def test_multi_refuses_an_unknown_or_misused_subcommand_when_queueing(
    conn: RespConnection,
) -> None:
    assert conn.call([b"MULTI"]).raw == b"+OK\r\n"
    assert conn.call([b"CLIENT", b"bogus"]).raw == (
        b"-ERR unknown subcommand 'bogus'. Try CLIENT HELP.\r\n"
    )
    assert conn.call([b"CLIENT", b"SETNAME"]).raw == (
        b"-ERR wrong number of arguments for 'client|setname' command\r\n"
    )
    assert conn.call([b"CONFIG", b"GET"]).raw == (
        b"-ERR wrong number of arguments for 'config|get' command\r\n"
    )
    assert conn.call([b"CLIENT", b"GETNAME"]).raw == b"+QUEUED\r\n"
    assert conn.call([b"EXEC"]).raw == (
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    )
    # A well-formed subcommand is queued and runs at EXEC.
    assert conn.call([b"MULTI"]).raw == b"+OK\r\n"
    assert conn.call([b"CLIENT", b"SETNAME", b"queued"]).raw == b"+QUEUED\r\n"
    assert conn.call([b"COMMAND", b"bogus", b"x"]).raw == (
        b"-ERR unknown subcommand 'bogus'. Try COMMAND HELP.\r\n"
    )
    assert conn.call([b"DISCARD"]).raw == b"+OK\r\n"
    assert conn.call([b"CLIENT", b"GETNAME"]).raw == b"$-1\r\n"
