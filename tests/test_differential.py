"""Differential test: random command sequences sent to a real redis-server and to kvstore,
every reply compared byte for byte unless the table says otherwise (see
``differential_requests.py`` for what is generated and how).

Each example starts from empty servers (FLUSHALL) in RESP2 or RESP3 and runs up to 30 steps
over four keys, so commands meet each other's values: counters read strings that APPEND wrote,
INCRBYFLOAT reads what INCRBY left, GETEX meets keys SETEX gave a deadline, RENAME moves a
deadline EXPIREAT set. Besides single requests, a step may be a whole transaction (WATCH,
writes, MULTI, queued commands with the odd queue-time error, EXEC or DISCARD) or a whole SCAN
iteration. The machine follows MULTI from the replies, so EXEC's replies are compared one by
one with each queued command's own comparison (a TTL within its tolerance, KEYS unordered).

``KVSTORE_DIFFERENTIAL_EXAMPLES`` sets how many examples run (default 100, about ten
seconds); raise it to shake out rare differences::

    KVSTORE_DIFFERENTIAL_EXAMPLES=2000 .venv/bin/pytest -q tests/test_differential.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conftest import ServerProcess, start_server
from differential_keys import scan_options
from differential_requests import TABLE, request, requests
from differential_support import (
    Reply,
    RespConnection,
    exact,
    scan_everything,
)
from differential_table import KEYS, Args, keys
from kvstore.commands import COMMANDS
from redis_compare import start_reference_redis
from test_client_support import RedisServer

EXAMPLES = int(os.environ.get("KVSTORE_DIFFERENTIAL_EXAMPLES", "100"))

OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    # One database, as kvstore has: SELECT 1 and COPY ... DB 1 are refused by both.
    server = start_reference_redis(tmp_path_factory.mktemp("differential-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def subject() -> Iterator[ServerProcess]:
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def connections(
    reference: RedisServer, subject: ServerProcess
) -> Iterator[tuple[RespConnection, RespConnection]]:
    pair = (
        RespConnection(reference.host, reference.port),
        RespConnection(subject.host, subject.port),
    )
    yield pair
    for connection in pair:
        connection.close()


def _each(queued: list[str], expected: Reply, actual: Reply) -> str | None:
    """EXEC's array: each reply compared as its own command's replies are."""
    if actual.kind != expected.kind or len(actual.parts) != len(expected.parts):
        return exact(expected, actual)
    for index, (name, mine, theirs) in enumerate(
        zip(queued, expected.parts, actual.parts, strict=True)
    ):
        difference = TABLE[name].compare(mine, theirs)
        if difference is not None:
            return f"reply {index} ({name}): {difference}"
    return None


def _single(name: str) -> st.SearchStrategy[tuple[str, Args]]:
    return request(name).map(lambda args: (name, args))


#: Writes that a transaction's WATCH often sees (four keys only).
_writes = st.one_of(*(_single(name) for name in ("set", "del", "incr", "expire", "rename")))


class Differential(RuleBasedStateMachine):
    redis: RespConnection
    kvstore: RespConnection

    def __init__(self) -> None:
        super().__init__()
        #: The names of the commands queued since MULTI (None: no transaction is open).
        self.queued: list[str] | None = None

    @initialize(protocol=st.sampled_from([b"2", b"3"]))
    def reset(self, protocol: bytes) -> None:
        for connection in (self.redis, self.kvstore):
            # The previous example may have ended inside MULTI or with keys watched.
            connection.call([b"DISCARD"])
            assert connection.call([b"UNWATCH"]).raw == OK
            assert connection.call([b"HELLO", protocol]).kind in (b"*", b"%")
            assert connection.call([b"FLUSHALL"]).raw == OK
            assert connection.call([b"CLIENT", b"SETNAME", b""]).raw == OK

    def step(self, name: str, args: Args) -> None:
        """Send one request to both servers and compare the replies; follow MULTI."""
        expected = self.redis.call(args)
        actual = self.kvstore.call(args)
        queued = self.queued
        if name == "exec" and queued is not None and expected.kind == b"*" and expected.parts:
            difference = _each(queued, expected, actual)
        else:
            difference = TABLE[name].compare(expected, actual)
        assert difference is None, f"{args!r}: {difference}"
        if name == "reset" and expected.raw == b"+RESET\r\n":  # ends any transaction at once
            self.queued = None
        elif queued is None:
            if name in ("set", "exec"):
                self._reclaim()
            if name == "multi" and expected.raw == OK:
                self.queued = []
            elif name == "randomkey" and expected.kind == b"$" and expected.text != b"-1":
                assert self.kvstore.call([b"EXISTS", actual.text]).raw == b":1\r\n"
        elif expected.raw == QUEUED:
            queued.append(name)
        elif name == "exec" or (name == "discard" and expected.raw == OK):
            self.queued = None  # EXEC ends the transaction even when it refuses to run it

    def _reclaim(self) -> None:
        """Make both servers drop keys whose deadline has passed.

        ``SET k v PXAT 1`` leaves a key that both count in DBSIZE and INFO until they next look
        the key up or their expiry cycles find it (every other command sees no key): the counts
        would depend on when each cycle runs. EXISTS on every key reclaims them now.
        """
        for connection in (self.redis, self.kvstore):
            assert connection.call([b"EXISTS", *KEYS]).kind == b":"

    @rule(request=requests)
    def run(self, request: tuple[str, Args]) -> None:
        self.step(*request)

    @rule(
        watched=st.one_of(st.just([]), keys),
        before=st.lists(_writes, max_size=2),
        body=st.lists(requests, max_size=4),
        end=st.sampled_from(["exec", "exec", "discard"]),
    )
    def transaction(
        self,
        watched: Args,
        before: list[tuple[str, Args]],
        body: list[tuple[str, Args]],
        end: str,
    ) -> None:
        """WATCH (perhaps), writes (perhaps to a watched key), MULTI, commands, EXEC/DISCARD."""
        if watched:
            self.step("watch", [b"WATCH", *watched])
        for name, args in before:
            self.step(name, args)
        self.step("multi", [b"MULTI"])
        for name, args in body:
            self.step(name, args)
        self.step(end, [end.upper().encode()])

    @precondition(lambda self: self.queued is None)
    @rule(options=scan_options)
    def scan_through(self, options: Args) -> None:
        """A whole SCAN iteration: the same keys, whatever the pages were."""
        expected = scan_everything(self.redis, options)
        actual = scan_everything(self.kvstore, options)
        if isinstance(expected, Reply) and isinstance(actual, Reply):
            assert exact(expected, actual) is None, f"SCAN {options!r}: {exact(expected, actual)}"
        else:
            assert expected == actual, f"SCAN {options!r}: redis {expected!r}, kvstore {actual!r}"


def test_kvstore_answers_as_redis_does(
    connections: tuple[RespConnection, RespConnection],
) -> None:
    reference_connection, subject_connection = connections

    class OnTheseConnections(Differential):
        redis = reference_connection
        kvstore = subject_connection

    run_state_machine_as_test(
        OnTheseConnections,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Shrinking replays sequences over the network for minutes; a failure is reported
            # unshrunk (at most 30 steps). Add Phase.shrink here to minimise one while debugging.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )


SUBSCRIBES = "it puts the sequence's connection in subscribed state (test_pubsub.py)"
UNSUBSCRIBES = "its replies depend on the connection's subscriptions (test_pubsub.py)"


def test_the_table_covers_every_command() -> None:
    """A command added to kvstore must be added to the table (or listed here, with why)."""
    not_comparable = {
        "hello": "its reply names the server, its version and the connection id",
        "quit": "it closes the connection the sequence runs on",
        "config": "its parameters are each server's own (kvstore's are a few, named its way)",
        "save": "it writes files in each server's own format (tests/test_persistence_*.py)",
        "bgsave": "it starts a background job whose timing is each server's own",
        "bgrewriteaof": "it starts a background job whose timing is each server's own",
        "lastsave": "it answers each server's own clock of its last snapshot",
        "shutdown": "it stops the server",
        "slowlog": "its entries are timings (shapes compared with Redis's in test_slowlog.py)",
        **dict.fromkeys(("subscribe", "psubscribe", "ssubscribe"), SUBSCRIBES),
        **dict.fromkeys(("unsubscribe", "punsubscribe", "sunsubscribe"), UNSUBSCRIBES),
        "monitor": "it turns the connection into a feed of other clients' commands "
        "(tests/test_monitor.py compares the lines with Redis's)",
        **dict.fromkeys(
            ("replicaof", "slaveof", "role", "wait", "replconf", "psync"),
            "replication: between nodes of one kind, each with its own IDs and offsets "
            "(tests/test_replication_*.py)",
        ),
        "migrate": "it talks to a target server (tests/test_migrate.py compares its replies "
        "and effects with Redis's)",
        "restore-asking": "it is RESTORE for MIGRATE in cluster mode (tests/test_migrate.py, "
        "tests/test_cluster_reshard.py)",
    }
    assert set(COMMANDS) - {name.encode() for name in TABLE} == {
        name.encode() for name in not_comparable
    }
    assert not set(TABLE) - {name.decode() for name in COMMANDS} - {"nosuchcommand"}
