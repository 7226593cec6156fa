"""Differential test: random command sequences sent to a real redis-server and to kvstore,
every reply compared byte for byte (see ``differential_table.py`` for what is generated).

Each example starts from empty servers (FLUSHALL) in RESP2 or RESP3 and runs up to 30
commands over four keys, so commands meet each other's values: counters read strings that
APPEND wrote, INCRBYFLOAT reads what INCRBY left, GETEX meets keys SETEX gave a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from conftest import ServerProcess, start_server
from differential_support import Reply, RespConnection, exact, scan_page, unordered, within
from differential_table import TABLE, Args, requests
from kvstore.commands import COMMANDS
from test_client_support import RedisServer, start_redis_server


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("differential-redis"))
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


class Differential(RuleBasedStateMachine):
    redis: RespConnection
    kvstore: RespConnection

    @initialize(protocol=st.sampled_from([b"2", b"3"]))
    def reset(self, protocol: bytes) -> None:
        for connection in (self.redis, self.kvstore):
            assert connection.call([b"HELLO", protocol]).kind in (b"*", b"%")
            assert connection.call([b"FLUSHALL"]).raw == b"+OK\r\n"
            assert connection.call([b"CLIENT", b"SETNAME", b""]).raw == b"+OK\r\n"

    @rule(request=requests)
    def run(self, request: tuple[str, Args]) -> None:
        name, args = request
        expected = self.redis.call(args)
        actual = self.kvstore.call(args)
        difference = TABLE[name].compare(expected, actual)
        assert difference is None, f"{args!r}: {difference}"


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
            max_examples=100,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Shrinking replays sequences over the network for minutes; a failure is reported
            # unshrunk (at most 30 steps). Add Phase.shrink here to minimise one while debugging.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )


def test_the_table_covers_every_command() -> None:
    """A command added to kvstore must be added to the table (or listed here, with why)."""
    # Replies that describe the server or the connection itself, or end it.
    not_comparable = {"hello", "quit", "command", "config"}
    # Timings and server statistics (compared with Redis's in test_slowlog.py).
    not_comparable |= {"slowlog", "latency"}
    assert set(COMMANDS) - {name.encode() for name in TABLE} == {
        name.encode() for name in not_comparable
    }


# -- the comparisons themselves ---------------------------------------------------------------


def _reply(raw: bytes) -> Reply:
    import io

    connection = RespConnection.__new__(RespConnection)
    connection.reader = io.BufferedReader(io.BytesIO(raw))
    return connection.read_reply()


def test_exact_compares_bytes() -> None:
    assert exact(_reply(b"-ERR x\r\n"), _reply(b"-ERR x\r\n")) is None
    assert exact(_reply(b":1\r\n"), _reply(b"$1\r\n1\r\n")) is not None


def test_within_tolerates_time_passing_only_for_positive_integers() -> None:
    compare = within(1)
    assert compare(_reply(b":100\r\n"), _reply(b":99\r\n")) is None
    assert compare(_reply(b":100\r\n"), _reply(b":98\r\n")) is not None
    assert compare(_reply(b":-2\r\n"), _reply(b":-1\r\n")) is not None  # missing vs no TTL
    assert compare(_reply(b":0\r\n"), _reply(b":-1\r\n")) is not None


def test_unordered_compares_elements_as_a_multiset() -> None:
    ab = _reply(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
    ba = _reply(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n")
    aa = _reply(b"*2\r\n$1\r\na\r\n$1\r\na\r\n")
    assert unordered(ab, ba) is None
    assert unordered(ab, aa) is not None
    assert unordered(_reply(b"*0\r\n"), _reply(b"*0\r\n")) is None


def test_scan_page_ignores_cursor_values_but_not_completion() -> None:
    done = _reply(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n")
    more = _reply(b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n")
    other_more = _reply(b"*2\r\n$1\r\n3\r\n*1\r\n$1\r\na\r\n")
    assert scan_page(more, other_more) is None
    assert scan_page(done, more) is not None
