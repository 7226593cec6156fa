"""``./client HOST:PORT <string command> ...`` prints what ``redis-cli`` prints to a pipe.

Each case runs the same setup on kvstore and on a real redis-server, then compares
``./client`` against kvstore with ``redis-cli`` against Redis, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import ServerProcess
from test_client_support import (
    RedisServer,
    assert_prints_like_redis_cli,
    run_client,
    start_redis_server,
)

#: (setup commands, the command compared); every key is prefixed "cs:" to keep to itself.
CASES: dict[str, tuple[list[list[str]], list[str]]] = {
    "incr-new": ([["del", "cs:n"]], ["incr", "cs:n"]),
    "incrby-existing": ([["set", "cs:n2", "40"]], ["incrby", "cs:n2", "2"]),
    "decrby-overflow": (
        [["set", "cs:n3", "-9223372036854775808"]],
        ["decrby", "cs:n3", "1"],
    ),
    "incrbyfloat": ([["set", "cs:f", "10.5"]], ["incrbyfloat", "cs:f", "0.1"]),
    "incrbyfloat-not-a-float": ([["set", "cs:f2", "x"]], ["incrbyfloat", "cs:f2", "1"]),
    "mget-with-a-nil": (
        [["mset", "cs:a", "1", "cs:c", "3"], ["del", "cs:b"]],
        ["mget", "cs:a", "cs:b", "cs:c"],
    ),
    "mset": ([], ["mset", "cs:d", "1", "cs:e", "2"]),
    "mset-wrong-arity": ([], ["mset", "cs:d", "1", "cs:e"]),
    "msetnx-refused": ([["set", "cs:g", "1"]], ["msetnx", "cs:g", "2", "cs:h", "3"]),
    "append": ([["set", "cs:s", "Hello"]], ["append", "cs:s", " World"]),
    "getrange": ([["set", "cs:r", "Hello World"]], ["getrange", "cs:r", "-5", "-1"]),
    "setrange": ([["set", "cs:t", "Hello"]], ["setrange", "cs:t", "1", "a"]),
    "getdel-missing": ([["del", "cs:u"]], ["getdel", "cs:u"]),
    "getex-persist": ([["setex", "cs:v", "100", "x"]], ["getex", "cs:v", "persist"]),
    "getset": ([["set", "cs:w", "old"]], ["getset", "cs:w", "new"]),
    "psetex-invalid": ([], ["psetex", "cs:x", "0", "v"]),
}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("cli-strings-redis"))
    yield server
    server.stop()


@pytest.mark.parametrize("case", sorted(CASES))
def test_prints_like_redis_cli(
    fast_server: ServerProcess, redis_server: RedisServer, case: str
) -> None:
    setup, command = CASES[case]
    assert_prints_like_redis_cli(fast_server.address, redis_server, setup, command)


def test_what_redis_cli_prints(fast_server: ServerProcess) -> None:
    """Pinned, so a change in redis-cli shows here: one line per element, nil as nothing."""
    node = fast_server.address
    run_client(node, "mset", "cs:p", "1", "cs:q", "2")
    run_client(node, "del", "cs:missing")
    result = run_client(node, "mget", "cs:p", "cs:missing", "cs:q")
    assert (result.stdout, result.returncode) == (b"1\n\n2\n", 0)
    assert run_client(node, "incrbyfloat", "cs:p", "0.5").stdout == b"1.5\n"
