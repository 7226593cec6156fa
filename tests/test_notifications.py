"""Keyspace notifications against a real redis-server: the same commands on both, every event
each publishes compared in order; expiry and eviction; the setting's spelling."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import redis

from conftest import ServerProcess, wait_for
from kvstore.commands import ServerState, Session
from kvstore.commands.notifications import Notifier
from kvstore.commands.table import COMMANDS as TABLE
from kvstore.config.events import flags_text, parse_flags
from kvstore.eviction import EvictingKeyspace, MemoryGuard
from kvstore.keyspace import Databases
from kvstore.protocol import Reply
from test_maxmemory import Clock

COMMANDS: list[list[str]] = [
    ["SET", "a", "1"],
    ["SET", "a", "2", "NX"],
    ["SET", "a", "3", "XX", "GET"],
    ["SET", "b", "1", "EX", "100"],
    ["SET", "b", "1", "KEEPTTL"],
    ["SETNX", "c", "1"],
    ["SETNX", "c", "2"],
    ["SETEX", "d", "100", "v"],
    ["PSETEX", "d", "100000", "v"],
    ["GETSET", "e", "v"],
    ["MSET", "f", "1", "g", "2", "f", "3"],
    ["MSETNX", "h", "1", "f", "2"],
    ["MSETNX", "h", "1", "i", "2"],
    ["APPEND", "j", "x"],
    ["APPEND", "j", "y"],
    ["SETRANGE", "k", "0", ""],
    ["SETRANGE", "k", "2", "x"],
    ["INCR", "n"],
    ["DECR", "n"],
    ["INCRBY", "n", "5"],
    ["DECRBY", "n2", "5"],
    ["INCRBYFLOAT", "n", "1.5"],
    ["INCR", "j"],
    ["GETDEL", "j"],
    ["GETDEL", "j"],
    ["GETEX", "a", "EX", "100"],
    ["GETEX", "a", "PERSIST"],
    ["GETEX", "a", "PERSIST"],
    ["GETEX", "a"],
    ["DEL", "a", "zz", "b", "a"],
    ["UNLINK", "c", "zz"],
    ["EXPIRE", "d", "100"],
    ["EXPIRE", "zz", "100"],
    ["PEXPIRE", "d", "100000", "NX"],
    ["PERSIST", "d"],
    ["PERSIST", "d"],
    ["EXPIREAT", "e", "1"],
    ["RENAME", "f", "g"],
    ["RENAME", "g", "g"],
    ["RENAMENX", "g", "h"],
    ["RENAMENX", "g", "f"],
    ["COPY", "f", "g2"],
    ["COPY", "f", "g2"],
    ["COPY", "f", "g2", "REPLACE"],
    ["SETBIT", "bits", "3", "1"],
    ["SETBIT", "bits", "3", "1"],
    ["BITOP", "AND", "dest", "bits", "missing"],
    ["BITOP", "OR", "dest", "bits"],
    ["BITOP", "AND", "dest", "nothing"],
    ["BITFIELD", "bf", "GET", "u8", "0"],
    ["BITFIELD", "bf", "SET", "u8", "0", "5"],
    ["GETBIT", "missing", "0"],
    ["BITCOUNT", "missing"],
    ["DUMP", "missing"],
    ["LCS", "missing", "bits"],
    ["GET", "missing"],
    ["MGET", "f", "missing"],
    ["STRLEN", "missing2"],
    ["EXISTS", "missing"],
    # Other databases: events carry the number of the database the key is in.
    ["SELECT", "3"],
    ["SET", "x", "1"],
    ["EXPIRE", "x", "100"],
    ["MOVE", "x", "0"],
    ["MOVE", "x", "0"],
    ["SET", "y", "1"],
    ["COPY", "y", "y2", "DB", "5"],
    ["COPY", "y", "y2", "DB", "5", "REPLACE"],
    ["SWAPDB", "3", "5"],
    ["DEL", "y2"],
    ["FLUSHDB"],
    ["SELECT", "0"],
    ["FLUSHDB"],
]


def _events(port: int, flags: str) -> list[tuple[Any, ...]]:
    client = redis.Redis(port=port)
    client.flushall()
    client.config_set("notify-keyspace-events", flags)
    pubsub = client.pubsub()
    pubsub.psubscribe("__key*__:*")
    pubsub.subscribe("done")
    for kind in ("psubscribe", "subscribe"):  # both in place before the first command
        confirmation = pubsub.get_message(timeout=10)
        assert confirmation is not None
        assert confirmation["type"] == kind
    for command in COMMANDS:
        with contextlib.suppress(redis.ResponseError):
            client.execute_command(*command)  # type: ignore[no-untyped-call]
    client.publish("done", "")
    seen: list[tuple[Any, ...]] = []
    while True:
        message = pubsub.get_message(timeout=10)
        assert message is not None, f"no 'done' after {seen}"
        if message["channel"] == b"done":
            break
        seen.append((message["channel"], message["data"]))
    pubsub.close()
    client.config_set("notify-keyspace-events", "")
    client.close()
    return seen


@pytest.mark.parametrize("flags", ["KEA", "KA", "E$", "Eg", "KEAnm", "Kgm", "Ex"])
def test_events_match_redis(servers: tuple[int, ServerProcess], flags: str) -> None:
    redis_port, kvstore = servers
    expected = _events(redis_port, flags)
    assert _events(kvstore.port, flags) == expected
    if flags == "KEA":
        assert len(expected) > 60


@pytest.mark.parametrize(
    ("given", "shown"),
    [("KEA", "AKE"), ("Exg$tmd", "g$xtdEm"), ("g$", "g$"), ("KEn", "nKE"), ("AKEm", "AKEm")],
)
def test_the_setting_reads_back_as_redis_spells_it(
    servers: tuple[int, ServerProcess], given: str, shown: str
) -> None:
    for port in (servers[0], servers[1].port):
        client = redis.Redis(port=port)
        client.config_set("notify-keyspace-events", given)
        assert client.config_get("notify-keyspace-events") == {"notify-keyspace-events": shown}
        client.config_set("notify-keyspace-events", "")
        with pytest.raises(redis.ResponseError, match="Invalid event class character"):
            client.config_set("notify-keyspace-events", "Kq")
        client.close()


def test_expired_keys_are_reported(server_factory: Any) -> None:
    server: ServerProcess = server_factory("--notify-keyspace-events", "Ex")
    client = redis.Redis(port=server.port)
    pubsub = client.pubsub()
    pubsub.subscribe("__keyevent@0__:expired")
    confirmation = pubsub.get_message(timeout=10)
    assert confirmation is not None
    assert confirmation["type"] == "subscribe"
    client.set("soon", "1", px=1)  # reclaimed by the active cycle or the next read
    wait_for(lambda: client.get("soon") is None, 10, "the deadline")
    message = pubsub.get_message(timeout=10)
    assert message is not None
    assert (message["channel"], message["data"]) == (
        b"__keyevent@0__:expired",
        b"soon",
    )
    pubsub.close()
    client.close()


def test_events_name_the_clients_database(server_factory: Any) -> None:
    server: ServerProcess = server_factory("--notify-keyspace-events", "KEA")
    client = redis.Redis(port=server.port, db=3)
    pubsub = client.pubsub()
    pubsub.subscribe("__keyspace@3__:k", "__keyspace@0__:k", "__keyevent@3__:expired")
    for _ in range(3):
        confirmation = pubsub.get_message(timeout=10)
        assert confirmation is not None
        assert confirmation["type"] == "subscribe"
    client.set("k", "v")
    message = pubsub.get_message(timeout=10)
    assert message is not None
    assert (message["channel"], message["data"]) == (b"__keyspace@3__:k", b"set")
    assert pubsub.get_message(timeout=0.2) is None  # nothing on database 0's channel
    client.set("gone", "1", px=1)  # expiry in database 3 is reported there too
    wait_for(lambda: client.get("gone") is None, 10, "the deadline")
    message = pubsub.get_message(timeout=10)
    assert message is not None
    assert (message["channel"], message["data"]) == (b"__keyevent@3__:expired", b"gone")
    pubsub.close()
    client.close()


def _listening(state: ServerState, flags: str) -> list[Any]:
    """A notifier on ``state`` for ``flags``, and what a subscriber to every event receives."""
    received: list[Any] = []

    def push(message: Reply) -> None:
        received.append(message)

    subscriber = Session(state)
    subscriber.push = push
    state.pubsub.add(state.pubsub.patterns, b"__key*__:*", subscriber, push)
    notifier = Notifier(state)
    notifier.configure(parse_flags(flags))
    for db in state.dbs:  # as the assembly does while x or e is on
        db.notify = lambda event, key, index=db.index: notifier.keyspace_event(event, key, index)
    return received


def test_lazy_expiry_and_eviction_are_reported() -> None:
    clock = Clock()
    db = EvictingKeyspace("allkeys-random", clock=clock, seed=1)
    state = ServerState(dbs=Databases.with_first(db))
    received = _listening(state, "KEA")
    db.set(b"k", b"v", clock.now + 10)
    clock.now += 10
    assert db.get(b"k") is None  # found past its deadline
    assert [m[2:] for m in received] == [
        [b"__keyspace@0__:k", b"expired"],
        [b"__keyevent@0__:expired", b"k"],
    ]
    received.clear()
    for i in range(100):
        db.set(b"e%d" % i, b"v" * 100)
    assert MemoryGuard(db, db.used_memory // 2, 0).make_room()
    evicted = [m[3] for m in received if m[2] == b"__keyevent@0__:evicted"]
    assert evicted == db.evicted
    assert evicted


def test_new_is_kept_after_all() -> None:
    assert flags_text(parse_flags("AKEmn")) == "AnKEm"  # Redis 7.0 shows AKEm, losing n


class RunningClock(Clock):
    """A clock that moves on 5 ms at every reading, as a busy server's may between a command's
    steps."""

    def __call__(self) -> int:
        self.now += 5
        return self.now


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([b"SET", b"k", b"v", b"PX", b"1"], [b"new", b"set", b"expire"]),
        ([b"PSETEX", b"k", b"1", b"v"], [b"new", b"set", b"expire"]),
    ],
)
def test_a_deadline_passed_during_the_command_does_not_come_before_its_events(
    args: list[bytes], expected: list[bytes]
) -> None:
    db = EvictingKeyspace("noeviction", clock=RunningClock(), seed=1)
    state = ServerState(dbs=Databases.with_first(db))
    received = _listening(state, "KEAn")
    notifier = Notifier(state)
    notifier.configure(parse_flags("KEAn"))
    command = notifier.wrap_table(TABLE)[args[0].lower()]
    command.handler(Session(state), args)
    events = [m[3] for m in received if m[2].startswith(b"__keyspace@0__:")]
    # The key expires afterwards, when next looked at (it is due by then), not before.
    assert events == expected
    assert db.get(args[1]) is None
    assert [m[3] for m in received if m[2].startswith(b"__keyspace@0__:")][-1] == b"expired"
