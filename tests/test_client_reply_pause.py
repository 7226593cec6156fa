"""CLIENT REPLY and CLIENT PAUSE/UNPAUSE: byte for byte against a real redis-server where the
exchange is deterministic, and the pause's behaviour (what it holds, what it lets through,
expiry kept back) on both servers alike."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from conftest import ServerProcess, wait_for
from kvstore.protocol import encode_request
from redis_compare import RawConnection
from wire_scripts import Step, assert_script_matches_redis, cmd

REPLY_SCRIPTS: dict[str, tuple[int, list[Step]]] = {
    "off-on": (
        1,
        [
            (
                0,
                [
                    cmd("CLIENT", "REPLY", "OFF"),
                    cmd("PING", "a"),
                    cmd("SET", "k", "v"),
                    cmd("GET", "k"),
                    cmd("INCR", "k"),  # an error is silenced too
                    cmd("CLIENT", "REPLY", "ON"),
                    cmd("GET", "k"),
                ],
            ),
        ],
    ),
    "skip": (
        1,
        [
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("PING", "a"), cmd("PING", "b")]),
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("CLIENT", "REPLY", "ON"), cmd("PING")]),
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("CLIENT", "REPLY", "SKIP"), cmd("PING")]),
            (
                0,
                [
                    cmd("CLIENT", "REPLY", "OFF"),
                    cmd("CLIENT", "REPLY", "SKIP"),
                    cmd("PING"),
                    cmd("CLIENT", "REPLY", "ON"),
                    cmd("PING", "c"),
                ],
            ),
        ],
    ),
    "errors": (
        1,
        [
            (
                0,
                [
                    cmd("CLIENT", "REPLY", "maybe"),
                    cmd("CLIENT", "REPLY"),
                    cmd("CLIENT", "REPLY", "on", "off"),
                ],
            ),
        ],
    ),
    # Subscription confirmations and messages are pushes: sent whatever the mode.
    "pushes": (
        2,
        [
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("SUBSCRIBE", "ch", "other")]),
            (1, [cmd("PUBLISH", "ch", "hello")]),
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("UNSUBSCRIBE", "ch")]),
            (0, [cmd("UNSUBSCRIBE")]),
        ],
    ),
    "pushes-resp3": (
        2,
        [
            (0, [cmd("HELLO", "3")]),
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("PSUBSCRIBE", "c*")]),
            (1, [cmd("PUBLISH", "ch", "hello")]),
            (0, [cmd("CLIENT", "REPLY", "SKIP"), cmd("GET", "nothing"), cmd("PING", "x")]),
        ],
    ),
    "pause-errors": (
        1,
        [
            (
                0,
                [
                    cmd("CLIENT", "PAUSE", "abc"),
                    cmd("CLIENT", "PAUSE", "-1"),
                    cmd("CLIENT", "PAUSE", "10", "sometimes"),
                    cmd("CLIENT", "PAUSE"),
                    cmd("CLIENT", "PAUSE", "1", "write", "x"),
                    cmd("CLIENT", "UNPAUSE", "x"),
                    cmd("CLIENT", "PAUSE", "0", "WRITE"),
                    cmd("CLIENT", "UNPAUSE"),
                    cmd("CLIENT", "UNPAUSE"),
                ],
            ),
        ],
    ),
    # Redis keeps the running request in the query buffer: qbuf counts it, and a subcommand
    # is shown by its full name.
    "client-info": (
        1,
        [(0, [cmd("SET", "k", "v")]), (0, [cmd("CLIENT", "INFO")])],
    ),
}


@pytest.mark.parametrize("name", sorted(REPLY_SCRIPTS))
def test_replies_match_redis(servers: tuple[int, ServerProcess], name: str) -> None:
    if name == "client-info":
        _assert_client_info_fields_match(servers)
        return
    assert_script_matches_redis(servers, REPLY_SCRIPTS[name])


def _assert_client_info_fields_match(servers: tuple[int, ServerProcess]) -> None:
    redis_port, kvstore = servers
    fields = {}
    for port in (redis_port, kvstore.port):
        conn = RawConnection("127.0.0.1", port)
        try:
            line = conn.call("CLIENT", "INFO").decode()
        finally:
            conn.close()
        pairs = dict(word.split("=", 1) for word in line.split())
        fields[port] = {key: pairs[key] for key in ("qbuf", "cmd", "flags", "multi", "resp")}
    assert fields[kvstore.port] == fields[redis_port]


# -- CLIENT PAUSE: the same scenarios on both servers -----------------------------------------


@pytest.fixture(params=["redis", "kvstore"])
def port(request: pytest.FixtureRequest, servers: tuple[int, ServerProcess]) -> Iterator[int]:
    redis_port, kvstore = servers
    chosen = redis_port if request.param == "redis" else kvstore.port
    yield chosen
    conn = RawConnection("127.0.0.1", chosen)  # whatever a test left, the next starts unpaused
    try:
        assert conn.call("CLIENT", "UNPAUSE") == ("+", b"OK")
        assert conn.call("FLUSHALL") == ("+", b"OK")
    finally:
        conn.close()


class Client:
    """A raw connection that sends requests now and reads their replies later."""

    def __init__(self, port: int) -> None:
        self.conn = RawConnection("127.0.0.1", port)

    def send(self, *args: str) -> None:
        self.conn.sock.sendall(encode_request([arg.encode() for arg in args]))

    def read(self) -> object:
        return self.conn._reply()

    def call(self, *args: str) -> object:
        return self.conn.call(*args)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def connect(port: int) -> Iterator[Callable[[], Client]]:
    opened: list[Client] = []

    def make() -> Client:
        client = Client(port)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def info_field(client: Client, name: str) -> int:
    text = client.call("INFO", "everything")
    assert isinstance(text, bytes)
    for line in text.decode().splitlines():
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"no {name} in INFO")


def wait_held(admin: Client, count: int) -> None:
    wait_for(lambda: info_field(admin, "blocked_clients") == count, 10, f"{count} held")


def test_write_pause_holds_writes_and_lets_reads_through(connect: Callable[[], Client]) -> None:
    admin, writer, reader = connect(), connect(), connect()
    assert admin.call("SET", "k", "before") == ("+", b"OK")
    assert admin.call("CLIENT", "PAUSE", "100000", "WRITE") == ("+", b"OK")
    writer.send("SET", "k", "after")
    writer.send("GET", "k")  # behind the held write: waits too, keeping the order
    wait_held(admin, 1)
    assert reader.call("GET", "k") == b"before"
    assert reader.call("PING") == ("+", b"PONG")
    assert reader.call("SET", "k") == ("-", b"ERR wrong number of arguments for 'set' command")
    reader.send("PUBLISH", "ch", "m")  # may reach other clients: held as a write
    wait_held(admin, 2)
    assert admin.call("CLIENT", "UNPAUSE") == ("+", b"OK")
    assert writer.read() == ("+", b"OK")
    assert writer.read() == b"after"
    assert reader.read() == 0
    assert info_field(admin, "blocked_clients") == 0


def test_read_only_transactions_run_and_written_ones_wait(
    connect: Callable[[], Client],
) -> None:
    admin, reading, writing = connect(), connect(), connect()
    for client in (reading, writing):
        assert client.call("MULTI") == ("+", b"OK")
    assert reading.call("GET", "k") == ("+", b"QUEUED")
    assert writing.call("SET", "k", "v") == ("+", b"QUEUED")
    assert admin.call("CLIENT", "PAUSE", "100000", "WRITE") == ("+", b"OK")
    assert reading.call("EXEC") == [None]
    writing.send("EXEC")
    wait_held(admin, 1)
    assert admin.call("CLIENT", "UNPAUSE") == ("+", b"OK")
    assert writing.read() == [("+", b"OK")]


def test_a_pause_started_in_a_transaction_starts_after_it(connect: Callable[[], Client]) -> None:
    admin, other = connect(), connect()
    assert admin.call("MULTI") == ("+", b"OK")
    for args in (("SET", "a", "1"), ("CLIENT", "PAUSE", "100000", "WRITE"), ("SET", "b", "2")):
        assert admin.call(*args) == ("+", b"QUEUED")
    assert admin.call("EXEC") == [("+", b"OK")] * 3
    other.send("SET", "c", "3")
    wait_held(admin, 1)
    assert admin.call("MGET", "a", "b", "c") == [b"1", b"2", None]
    assert admin.call("CLIENT", "UNPAUSE") == ("+", b"OK")
    assert other.read() == ("+", b"OK")


def test_all_pause_holds_every_command_until_it_ends(connect: Callable[[], Client]) -> None:
    admin, other = connect(), connect()
    assert admin.call("CLIENT", "PAUSE", "300", "ALL") == ("+", b"OK")
    other.send("PING")
    # The pause ends by itself: the held PING is answered then, whatever the order of events.
    assert other.read() == ("+", b"PONG")
    assert other.call("GET", "k") is None


def test_expiry_waits_for_the_end_of_a_pause(connect: Callable[[], Client]) -> None:
    admin = connect()
    expired = info_field(admin, "expired_keys")
    assert admin.call("MULTI") == ("+", b"OK")
    assert admin.call("SET", "k", "v", "PX", "10") == ("+", b"QUEUED")
    assert admin.call("CLIENT", "PAUSE", "100000", "WRITE") == ("+", b"QUEUED")
    assert admin.call("EXEC") == [("+", b"OK"), ("+", b"OK")]
    wait_for(lambda: admin.call("GET", "k") is None, 10, "the key reads as expired")
    assert info_field(admin, "expired_keys") == expired  # kept, not expired
    assert admin.call("CLIENT", "UNPAUSE") == ("+", b"OK")
    assert admin.call("GET", "k") is None
    assert info_field(admin, "expired_keys") == expired + 1


def test_a_held_client_that_leaves_is_forgotten(connect: Callable[[], Client]) -> None:
    admin, leaving = connect(), connect()
    assert admin.call("CLIENT", "PAUSE", "100000", "WRITE") == ("+", b"OK")
    leaving.send("SET", "k", "v")
    wait_held(admin, 1)
    leaving.conn.sock.shutdown(socket.SHUT_RDWR)
    wait_held(admin, 0)
    assert admin.call("CLIENT", "UNPAUSE") == ("+", b"OK")
    assert admin.call("GET", "k") is None
