"""COMMAND against a real redis-server: every kvstore command's entry is Redis's (subcommands
compared by name, as each server lists them in its own order), redis-cli shows COMMAND INFO the
same, redis-py reads COMMAND and COMMAND GETKEYS; the LIST, DOCS and GETKEYS edges."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from conftest import ServerProcess
from differential_support import Reply, RespConnection
from kvstore.commands import COMMANDS
from redis_compare import RawConnection, start_kvstore_for_comparison, start_reference_redis
from test_client_support import RedisServer


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, ServerProcess]]:
    reference = start_reference_redis(tmp_path_factory.mktemp("command-redis"))
    kvstore = start_kvstore_for_comparison()
    yield reference, kvstore
    kvstore.stop()
    reference.stop()


def _by_name(entry: Reply) -> tuple[bytes, dict[bytes, bytes]]:
    """An entry's bytes without its subcommands, and its subcommands' bytes by name."""
    *fields, subcommands = entry.parts
    return b"".join(part.raw for part in fields), {
        sub.parts[0].text: sub.raw for sub in subcommands.parts
    }


# CLIENT SETINFO is Redis 7.2's (client libraries send it), which 7.0 does not list; CLUSTER
# GETKEYSINSLOTS is kvstore's own (docs/cluster.md).
KNOWN = {b"client|setinfo", b"cluster|getkeysinslots"}


@pytest.mark.parametrize("protocol", [b"2", b"3"])
def test_every_entry_is_redis_s(
    servers: tuple[RedisServer, ServerProcess], protocol: bytes
) -> None:
    reference, kvstore = servers
    names = sorted(COMMANDS)
    replies = []
    for host, port in ((reference.host, reference.port), (kvstore.host, kvstore.port)):
        connection = RespConnection(host, port)
        connection.call([b"HELLO", protocol])
        replies.append(connection.call([b"COMMAND", b"INFO", *names]))
        connection.close()
    theirs, ours = replies
    differences = []
    for name, expected, actual in zip(names, theirs.parts, ours.parts, strict=True):
        (their_fields, their_subs), (our_fields, our_subs) = _by_name(expected), _by_name(actual)
        if their_fields != our_fields:
            differences.append(f"{name!r}: {expected.raw!r}\n  ours {actual.raw!r}")
        for sub, raw in our_subs.items():
            if sub not in KNOWN and their_subs.get(sub) != raw:
                differences.append(f"{sub!r}: {their_subs.get(sub)!r}\n  ours {raw!r}")
    assert not differences, "\n".join(differences)


def test_redis_cli_shows_command_info_as_for_redis(
    servers: tuple[RedisServer, ServerProcess],
) -> None:
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not installed")
    outputs = [
        subprocess.run(
            [cli, "-p", str(server.port), "--no-raw", "COMMAND", "INFO", "get", "set", "bitop"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        for server in servers
    ]
    assert outputs[0] == outputs[1]
    assert "begin_search" in outputs[1]


def test_redis_py_reads_command_and_getkeys(servers: tuple[RedisServer, ServerProcess]) -> None:
    theirs, ours = (redis.Redis(port=server.port, socket_timeout=10) for server in servers)
    our_table = ours.command()
    their_table = theirs.command()
    assert set(our_table) <= set(their_table)
    for name in ("get", "set", "mset", "bitfield", "del", "lcs"):
        assert our_table[name] == their_table[name]
    for args in (("MSET", "a", "1", "b", "2"), ("BITOP", "AND", "d", "x", "y"), ("COPY", "a", "b")):
        assert ours.command_getkeys(*args) == theirs.command_getkeys(*args)
    assert ours.command_count() == len(COMMANDS)


def test_list_docs_and_getkeys(servers: tuple[RedisServer, ServerProcess]) -> None:
    _, kvstore = servers
    r = redis.Redis(port=kvstore.port, socket_timeout=10, decode_responses=True)
    listed = r.command_list()
    assert {"get", "object|encoding"} <= set(listed)
    assert sorted(r.command_list(category="bitmap")) == [
        "bitcount",
        "bitfield",
        "bitfield_ro",
        "bitop",
        "bitpos",
        "getbit",
        "setbit",
    ]
    assert r.command_list(pattern="getb*") == ["getbit"]
    assert r.command_list(module="json") == []
    raw = RawConnection(kvstore.host, kvstore.port)
    docs = raw.call("COMMAND", "DOCS", "get", "nosuch")
    assert docs[::2] == [b"get"]
    assert raw.call("COMMAND", "GETKEYSANDFLAGS", "set", "k", "v", "GET") == [
        [b"k", [("+", b"RW"), ("+", b"access"), ("+", b"update")]]
    ]
    assert raw.call("COMMAND", "GETKEYS", "object", "encoding", "k") == [b"k"]
    assert raw.call("COMMAND", "GETKEYS", "ping", "x") == (
        "-",
        b"ERR The command has no key arguments",
    )
    raw.close()


#: What COMMAND DOCS carries that kvstore does not repeat: Redis's own prose (summaries,
#: complexity, history, replacements); kvstore writes its own summaries.
PROSE = {b"summary", b"complexity", b"history", b"replaced_by"}


def _docs_without_prose(reply: object) -> object:
    """A COMMAND DOCS reply (RESP3) as order-free data, Redis's prose left out."""
    if isinstance(reply, dict):
        return {key: _docs_without_prose(value) for key, value in reply.items() if key not in PROSE}
    if isinstance(reply, list):
        return [_docs_without_prose(item) for item in reply]
    if isinstance(reply, (set, frozenset)):
        return frozenset(reply)
    return reply


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_docs_arguments_are_redis_s(
    servers: tuple[RedisServer, ServerProcess], protocol: int
) -> None:
    reference, kvstore = servers
    names = sorted(name.decode() for name in COMMANDS)
    docs = []
    for port in (reference.port, kvstore.port):
        client = redis.Redis(port=port, socket_timeout=10, protocol=protocol)
        conn = client.connection_pool.get_connection()
        try:
            conn.send_command("COMMAND", "DOCS", *names)  # type: ignore[no-untyped-call]
            reply = conn.read_response()
        finally:
            client.connection_pool.release(conn)
            client.close()
        if protocol == 2:  # flat pairs: compare them as a whole, in order, prose aside
            docs.append({reply[i]: reply[i + 1] for i in range(0, len(reply), 2)})
        else:
            docs.append(reply)
    theirs, ours = docs
    differences = []
    for name in names:
        expected, actual = theirs[name.encode()], ours[name.encode()]
        if protocol == 3:
            their_subs = expected.pop(b"subcommands", {})
            our_subs = actual.pop(b"subcommands", {})
            for sub, entry in our_subs.items():
                if sub.decode() not in {
                    "client|setinfo",
                    "cluster|getkeysinslots",
                } and _docs_without_prose(entry) != _docs_without_prose(their_subs.get(sub)):
                    differences.append(f"{sub!r}: {their_subs.get(sub)!r}\n  ours {entry!r}")
            expected, actual = _docs_without_prose(expected), _docs_without_prose(actual)
        else:
            expected, actual = _flat_without_prose(expected), _flat_without_prose(actual)
        if expected != actual:
            differences.append(f"{name}: {expected!r}\n  ours {actual!r}")
    assert not differences, "\n".join(differences)


def _flat_without_prose(entry: list[object]) -> dict[object, object]:
    """A RESP2 entry's top-level pairs, prose and subcommands aside (RESP3 checks those)."""
    pairs = dict(zip(entry[::2], entry[1::2], strict=True))
    return {k: v for k, v in pairs.items() if k not in PROSE | {b"subcommands"}}
