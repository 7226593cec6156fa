"""MULTI/EXEC/DISCARD/WATCH/UNWATCH: replies byte for byte against a real redis-server, WATCH
across connections, redis-py's transactional pipelines and check-and-set helper, the text
protocol."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from conftest import ServerProcess, read_exactly, wait_for
from kvstore.protocol import encode_request, make_reply_parser
from kvstore.protocol.resp_replies import INCOMPLETE
from test_client_support import RedisServer, start_redis_server

Step = tuple[int, list[str]]  # (connection number, command)


@pytest.fixture(scope="module")
def redis_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    peer = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield peer
    peer.stop()


def read_reply(sock: socket.socket) -> bytes:
    """The raw bytes of exactly one reply (one request is outstanding at a time)."""
    parser = make_reply_parser(use_hiredis=False)
    raw = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {raw!r}"
        raw += chunk
        parser.feed(chunk)
        if parser.gets() is not INCOMPLETE:
            return raw


def request(args: list[str]) -> bytes:
    return encode_request([arg.encode() for arg in args])


def run_steps(port: int, steps: list[Step], connections: int = 2) -> list[bytes]:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(connections)]
    try:
        replies = []
        for number, args in steps:
            socks[number].sendall(request(args))
            replies.append(read_reply(socks[number]))
        return replies
    finally:
        for sock in socks:
            sock.close()


A, B = 0, 1
QUEUE_ERRORS: list[Step] = [
    (A, ["EXEC"]),
    (A, ["DISCARD"]),
    (A, ["EXEC", "x"]),
    (A, ["MULTI"]),
    (A, ["MULTI"]),  # nested: refused, the transaction goes on
    (A, ["WATCH", "k"]),  # refused, the transaction goes on
    (A, ["SET", "k", "1"]),
    (A, ["EXEC"]),
    (A, ["MULTI"]),
    (A, ["NOSUCHCOMMAND", "a", "b"]),
    (A, ["SET", "k", "2"]),
    (A, ["EXEC"]),  # EXECABORT
    (A, ["GET", "k"]),
    (A, ["MULTI"]),
    (A, ["GET"]),  # wrong arity
    (A, ["EXEC"]),
    (A, ["MULTI"]),
    (A, ["MULTI", "x"]),  # wrong arity, even of MULTI itself, spoils the transaction
    (A, ["EXEC"]),
    (A, ["MULTI"]),
    (A, ["SET", "k", "3"]),
    (A, ["EXEC", "x"]),  # refused EXEC: discards, says why
    (A, ["EXEC"]),
    (A, ["GET", "k"]),
]
RUNTIME_ERRORS: list[Step] = [
    (A, ["MULTI"]),
    (A, ["SET", "k", "v", "NOSUCHOPTION"]),
    (A, ["SET", "k", "v"]),
    (A, ["SELECT", "99"]),
    (A, ["GET", "k"]),
    (A, ["UNWATCH"]),  # queued like any other command
    (A, ["PING"]),
    (A, ["EXEC"]),
    (A, ["MULTI"]),
    (A, ["EXEC"]),  # empty
    (A, ["MULTI"]),
    (A, ["SET", "k", "discarded"]),
    (A, ["DISCARD"]),
    (A, ["GET", "k"]),
]
WATCHES: list[Step] = [
    # another connection writes a watched key
    (A, ["WATCH", "k", "other"]),
    (B, ["SET", "k", "x"]),
    (A, ["MULTI"]),
    (A, ["SET", "k", "a"]),
    (A, ["EXEC"]),
    (A, ["GET", "k"]),
    # EXEC unwatched: the same transaction now succeeds
    (A, ["MULTI"]),
    (A, ["SET", "k", "a"]),
    (A, ["EXEC"]),
    # the same connection writes its own watched key
    (A, ["WATCH", "k"]),
    (A, ["SET", "k", "b"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    # writing the same value is a change; a refused SET NX is not
    (A, ["WATCH", "k"]),
    (B, ["SET", "k", "b", "NX"]),
    (B, ["SETNX", "k", "c"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    (A, ["WATCH", "k"]),
    (B, ["SET", "k", "b"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    # an absent key: DEL and FLUSHALL do not change it, creating it does
    (A, ["WATCH", "absent"]),
    (B, ["DEL", "absent"]),
    (B, ["FLUSHALL"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    (A, ["WATCH", "absent"]),
    (B, ["SET", "absent", "1"]),
    (B, ["DEL", "absent"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    # deleting and flushing an existing key are changes
    (B, ["SET", "k", "1"]),
    (A, ["WATCH", "k"]),
    (B, ["DEL", "k"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    (B, ["SET", "k", "1"]),
    (A, ["WATCH", "k"]),
    (B, ["FLUSHDB"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    # reading is not
    (B, ["SET", "k", "1"]),
    (A, ["WATCH", "k"]),
    (B, ["GET", "k"]),
    (B, ["EXISTS", "k"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    # UNWATCH and DISCARD forget the watched keys, and a refused EXEC does too
    (A, ["WATCH", "k"]),
    (A, ["UNWATCH"]),
    (B, ["SET", "k", "2"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    (A, ["WATCH", "k"]),
    (A, ["MULTI"]),
    (A, ["DISCARD"]),
    (B, ["SET", "k", "3"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    (A, ["WATCH", "k"]),
    (A, ["EXEC", "x"]),
    (B, ["SET", "k", "4"]),
    (A, ["MULTI"]),
    (A, ["PING"]),
    (A, ["EXEC"]),
    # a change while the transaction is queued counts; an UNWATCH queued inside does not save it
    (A, ["WATCH", "k"]),
    (A, ["MULTI"]),
    (A, ["UNWATCH"]),
    (B, ["SET", "k", "5"]),
    (A, ["EXEC"]),
    # queue errors win over a changed watched key
    (A, ["WATCH", "k"]),
    (B, ["SET", "k", "6"]),
    (A, ["MULTI"]),
    (A, ["NOSUCHCOMMAND"]),
    (A, ["EXEC"]),
    # a watch on a key that then expires
    (B, ["SET", "k", "7", "PX", "1"]),
    (A, ["WATCH", "k"]),
]
SCENARIOS = {"queue errors": QUEUE_ERRORS, "runtime errors": RUNTIME_ERRORS, "watch": WATCHES}
#: Over the memory limit (CONFIG SET maxmemory 1), as Redis 7.0's unit/multi checks it.
OUT_OF_MEMORY: list[Step] = [
    (A, ["FLUSHALL"]),
    (A, ["SET", "x", "value"]),
    (A, ["MULTI"]),
    (A, ["GET", "x"]),
    (A, ["SET", "y", "1"]),
    (B, ["CONFIG", "SET", "maxmemory", "1"]),
    (A, ["EXEC"]),  # a command that may grow memory is queued: EXECABORT ... OOM
    (A, ["EXISTS", "y"]),
    (A, ["MULTI"]),
    (A, ["GET", "x"]),  # nothing at all is queued over the limit
    (A, ["DISCARD"]),  # but DISCARD runs
    (A, ["PING"]),
    (B, ["CONFIG", "SET", "maxmemory", "0"]),
    (A, ["MULTI"]),
    (A, ["GET", "x"]),
    (A, ["PING"]),
    (B, ["CONFIG", "SET", "maxmemory", "1"]),
    (A, ["EXEC"]),  # only reads queued: it runs
    (A, ["MULTI"]),
    (A, ["SET", "y", "2"]),
    (A, ["EXEC"]),  # the refused SET spoiled it
    (B, ["CONFIG", "SET", "maxmemory", "0"]),
    (A, ["SET", "y", "3"]),
]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replies_match_redis(
    name: str, fast_server: ServerProcess, redis_peer: RedisServer
) -> None:
    steps = [(A, ["FLUSHALL"]), *SCENARIOS[name]]
    ours = run_steps(fast_server.port, steps)
    theirs = run_steps(redis_peer.port, steps)
    for (number, args), mine, reference in zip(steps, ours, theirs, strict=True):
        assert mine == reference, f"connection {number}: {args}"


def test_out_of_memory_inside_multi_as_redis(
    server_factory: Callable[..., ServerProcess], redis_peer: RedisServer
) -> None:
    server = server_factory("--maxmemory", "1gb")  # CONFIG SET maxmemory needs one at start
    ours = run_steps(server.port, OUT_OF_MEMORY)
    theirs = run_steps(redis_peer.port, OUT_OF_MEMORY)
    for (number, args), mine, reference in zip(OUT_OF_MEMORY, ours, theirs, strict=True):
        assert mine == reference, f"connection {number}: {args}"
    assert b"-EXECABORT Transaction discarded because of: OOM" in ours[6]


def test_exec_aborted_by_watch_is_the_null_array_in_both_protocols(
    fast_server: ServerProcess,
) -> None:
    for hello, null in ((["HELLO", "2"], b"*-1\r\n"), (["HELLO", "3"], b"_\r\n")):
        steps = [(A, hello), (A, ["WATCH", "k"]), (B, ["SET", "k", "x"]), (A, ["MULTI"])]
        steps.append((A, ["EXEC"]))
        assert run_steps(fast_server.port, steps)[-1] == null


def test_a_watched_key_that_expires_fails_exec(
    fast_server: ServerProcess, redis_peer: RedisServer
) -> None:
    for port in (fast_server.port, redis_peer.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.set("volatile", "v", px=50)
        with r.pipeline() as pipe:
            pipe.watch("volatile")  # type: ignore[no-untyped-call]
            # Wait, without touching the key, until the server has reclaimed it.
            wait_for(lambda: r.dbsize() == 0, 10, "the key to expire")  # noqa: B023
            pipe.multi()
            pipe.set("volatile", "new")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert r.get("volatile") is None
        r.close()


def test_redis_py_transactional_pipeline(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port)
    r.delete("p")
    with r.pipeline(transaction=True) as pipe:
        pipe.set("p", "1")
        pipe.get("p")
        pipe.exists("p", "nope")
        pipe.delete("p")
        assert pipe.execute() == [True, b"1", 1, 1]
    with r.pipeline(transaction=True) as pipe:
        pipe.set("p", "1")
        pipe.set("p", "2", nx=True)
        pipe.execute_command("SET", "p", "v", "BAD")  # type: ignore[no-untyped-call]
        results = pipe.execute(raise_on_error=False)
    assert results[:2] == [True, None]
    assert isinstance(results[2], redis.ResponseError)
    assert "syntax error" in str(results[2])
    assert r.get("p") == b"1"
    r.close()


def test_redis_py_check_and_set_retries_on_watch_error(server: ServerProcess) -> None:
    r = redis.Redis(port=server.port)
    rival = redis.Redis(port=server.port)
    r.set("balance", "10")
    attempts = []

    def add_five(pipe: Any) -> None:
        current = int(pipe.get("balance"))
        attempts.append(current)
        if len(attempts) == 1:
            rival.set("balance", "100")  # between the read and EXEC: the first try must fail
        pipe.multi()
        pipe.set("balance", str(current + 5))

    r.transaction(add_five, "balance")
    assert attempts == [10, 100]
    assert r.get("balance") == b"105"
    r.close()
    rival.close()


def test_queued_commands_are_counted_once_as_redis_does(
    fast_server: ServerProcess, redis_peer: RedisServer
) -> None:
    def delta(port: int) -> int:
        steps: list[Step] = [(A, ["INFO", "stats"])]
        steps += [(A, ["MULTI"]), (A, ["SET", "n", "1"]), (A, ["GET", "n"]), (A, ["EXEC"])]
        steps.append((A, ["INFO", "stats"]))
        first, *_, last = run_steps(port, steps, connections=1)
        return processed(last) - processed(first)

    assert delta(fast_server.port) == delta(redis_peer.port) == 5


def processed(info: bytes) -> int:
    for line in info.split(b"\r\n"):
        if line.startswith(b"total_commands_processed:"):
            return int(line.split(b":")[1])
    raise AssertionError("no total_commands_processed field")


def test_closing_a_connection_forgets_its_watches(fast_server: ServerProcess) -> None:
    r = redis.Redis(port=fast_server.port)
    with fast_server.connect() as sock:
        sock.sendall(request(["WATCH", "w1", "w2"]))
        assert read_exactly(sock, 5) == b"+OK\r\n"
        assert r.info("clients")["total_watched_keys"] == 2
    wait_for(lambda: r.info("clients")["total_watched_keys"] == 0, 10, "the watches to go")
    assert r.info("clients")["watching_clients"] == 0
    r.close()


def test_text_protocol_transaction(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(b"del t\r\nmulti\r\nset t hello world\r\nget t\r\nexists t\r\nexec\r\n")
        expected = (
            b"Key not found\r\nOK\r\nQUEUED\r\nQUEUED\r\nQUEUED\r\nOK\r\nhello world\r\n1\r\n"
        )
        assert read_exactly(sock, len(expected)) == expected
        sock.sendall(b"multi\r\nfoo\r\nset t x\r\nexec\r\nget t\r\nexec\r\n")
        expected = (
            b"OK\r\nerror: unknown command 'foo'\r\nQUEUED\r\n"
            b"error: EXECABORT Transaction discarded because of previous errors.\r\n"
            b"hello world\r\nerror: EXEC without MULTI\r\n"
        )
        assert read_exactly(sock, len(expected)) == expected
