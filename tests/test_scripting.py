"""RESET, FUNCTION, SCRIPT and LATENCY as a server with no scripts and no latency monitor
answers them, scripted against a real redis-server; INFO's server and replication fields;
SAVE refused inside MULTI."""

from __future__ import annotations

import re

from conftest import ServerProcess
from differential_support import RespConnection
from kvstore.commands import Dispatcher, ServerState, Session
from kvstore.protocol.replies import ReplyError, Status
from redis_compare import RedisPair

SCRIPT = [
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "FLUSH", "ASYNC"),
    ("FUNCTION", "FLUSH", "bogus"),
    ("FUNCTION", "LIST"),
    ("FUNCTION", "LIST", "LIBRARYNAME", "lib*", "WITHCODE"),
    ("FUNCTION", "LIST", "LIBRARYNAME"),
    ("FUNCTION", "DUMP"),
    ("FUNCTION", "DELETE", "lib"),
    ("FUNCTION", "KILL"),
    ("FUNCTION", "LOAD", "return 1"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "FLUSH", "SYNC"),
    ("SCRIPT", "EXISTS", "a" * 40, "b" * 40),
    ("SCRIPT", "KILL"),
    ("LATENCY", "LATEST"),
    ("LATENCY", "HISTORY", "command"),
    ("LATENCY", "RESET"),
    ("LATENCY", "GRAPH", "command"),
]


def test_scripting_and_latency_answers_are_redis_s(pair: RedisPair) -> None:
    differences = [d for args in SCRIPT if (d := pair.check(*args)) is not None]
    dump = pair.redis.call("FUNCTION", "DUMP")
    assert pair.kvstore.call("FUNCTION", "RESTORE", dump) == ("+", b"OK")
    assert not differences, "\n".join(differences)


def test_reset_ends_the_transaction_and_the_connection_s_settings(pair: RedisPair) -> None:
    script = [
        ("CLIENT", "SETNAME", "someone"),
        ("WATCH", "w"),
        ("MULTI",),
        ("SET", "k", "1"),
        ("RESET",),
        ("EXEC",),
        ("CLIENT", "GETNAME"),
        ("GET", "k"),
        ("RESET", "x"),
    ]
    differences = [d for args in script if (d := pair.check(*args)) is not None]
    assert not differences, "\n".join(differences)


def test_reset_returns_to_resp2(servers: tuple[int, ServerProcess]) -> None:
    redis_port, kvstore = servers
    for port in (redis_port, kvstore.port):
        connection = RespConnection("127.0.0.1", port)
        assert connection.call([b"HELLO", b"3"]).kind == b"%"
        assert connection.call([b"RESET"]).raw == b"+RESET\r\n"
        assert connection.call([b"GET", b"nosuchkey"]).raw == b"$-1\r\n"  # RESP3 says "_"
        connection.close()


def test_save_is_refused_inside_multi(pair: RedisPair) -> None:
    script = [("MULTI",), ("SAVE",), ("SET", "k", "v"), ("EXEC",), ("GET", "k")]
    differences = [d for args in script if (d := pair.check(*args)) is not None]
    assert not differences, "\n".join(differences)


def _fields(text: bytes) -> dict[str, str]:
    return dict(
        line.split(":", 1) for line in text.decode().splitlines() if ":" in line and line[0] != "#"
    )


def test_info_server_and_replication_fields(servers: tuple[int, ServerProcess]) -> None:
    redis_port, kvstore = servers
    theirs, ours = (
        _fields(RespConnection("127.0.0.1", port).call([b"INFO", b"server", b"replication"]).text)
        for port in (redis_port, kvstore.port)
    )
    for name in ("redis_git_sha1", "redis_git_dirty", "role", "connected_slaves"):
        assert ours[name] == theirs[name], name
    assert re.fullmatch(r"[0-9a-f]{15,16}", ours["redis_build_id"])
    replication = [
        "master_failover_state",
        "master_replid2",
        "master_repl_offset",
        "second_repl_offset",
        "repl_backlog_active",
        "repl_backlog_size",
        "repl_backlog_first_byte_offset",
        "repl_backlog_histlen",
    ]
    assert {name: ours[name] for name in replication} == {
        name: theirs[name] for name in replication
    }
    assert re.fullmatch(r"[0-9a-f]{40}", ours["master_replid"])


def test_reset_asks_for_the_password_again() -> None:
    session = Session(ServerState(requirepass=b"secret"))
    dispatcher = Dispatcher()
    assert dispatcher.execute(session, [b"AUTH", b"secret"]) == Status("OK")
    assert dispatcher.execute(session, [b"GET", b"k"]) is None
    assert dispatcher.execute(session, [b"RESET"]) == Status("RESET")
    assert dispatcher.execute(session, [b"GET", b"k"]) == ReplyError(
        "NOAUTH Authentication required."
    )
