"""``./client`` with a command: real ``./client`` processes against real servers.

Output is compared byte for byte: the documents' verbs with the assignment's wording, and
every other command with what the real ``redis-cli`` prints against a real ``redis-server``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

import kvstore
from conftest import CLIENT, ServerProcess, closed_port
from test_client_support import (
    RedisServer,
    assert_prints_like_redis_cli,
    run_client,
    start_redis_server,
)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """A key no other test uses (the module's servers are shared)."""
    return f"cli:{request.node.name}"


def assert_result(
    result: subprocess.CompletedProcess[bytes], stdout: bytes, stderr: bytes, status: int
) -> None:
    assert (result.stdout, result.stderr, result.returncode) == (stdout, stderr, status)


# -- the documents' example and verbs --------------------------------------------------------


def test_documented_example(fast_server: ServerProcess) -> None:
    node = fast_server.address
    assert_result(run_client(node, "set", "norway", "oslo"), b"", b"", 0)
    assert_result(run_client(node, "get", "norway"), b"oslo\n", b"", 0)
    assert_result(run_client(node, "get", "sweden"), b"", b"error: not found\n", 1)


def test_host_without_port_uses_5000_and_host_port_form(fast_server: ServerProcess) -> None:
    """``./client 127.0.0.1 ...`` means port 5000; ``<host> <port> <command>`` picks another."""
    run_client(fast_server.address, "set", "host-port", "v")
    result = run_client("127.0.0.1", str(fast_server.port), "get", "host-port")
    assert_result(result, b"v\n", b"", 0)
    with closed_port() as port:
        unreachable = run_client("127.0.0.1", str(port), "get", "host-port")
    assert unreachable.returncode == 2


def test_get_with_a_trailing_value_ignores_it(fast_server: ServerProcess, key: str) -> None:
    node = fast_server.address
    assert_result(run_client(node, "set", key, "stored"), b"", b"", 0)
    assert_result(run_client(node, "get", key, "ignored"), b"stored\n", b"", 0)
    assert_result(run_client(node, "GET", key), b"stored\n", b"", 0)  # verbs ignore case


def test_put_only_inserts(fast_server: ServerProcess, key: str) -> None:
    node = fast_server.address
    assert_result(run_client(node, "put", key, "first"), b"", b"", 0)
    assert_result(run_client(node, "put", key, "second"), b"", b"error: key already exists\n", 1)
    assert_result(run_client(node, "get", key), b"first\n", b"", 0)


def test_del(fast_server: ServerProcess, key: str) -> None:
    node = fast_server.address
    run_client(node, "set", key, "v")
    assert_result(run_client(node, "del", key), b"", b"", 0)
    assert_result(run_client(node, "del", key), b"", b"error: not found\n", 1)
    assert_result(run_client(node, "get", key), b"", b"error: not found\n", 1)


@pytest.mark.parametrize(
    "value", [b"hello world", b"  padded  ", "blåbær".encode(), b"tab\there", b"-dash"]
)
def test_values_pass_unchanged(fast_server: ServerProcess, key: str, value: bytes) -> None:
    node = fast_server.address
    assert_result(run_client(node, "set", key, value), b"", b"", 0)
    assert_result(run_client(node, "get", key), value + b"\n", b"", 0)
    with kvstore.Client(node) as client:
        assert client.get(key) == value


def test_ipv6_node(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory("--bind", "::1")
    node = f"[::1]:{server.port}"
    assert_result(run_client(node, "set", "six", "v6"), b"", b"", 0)
    assert_result(run_client(node, "get", "six"), b"v6\n", b"", 0)
    assert_result(run_client("::1", str(server.port), "get", "six"), b"v6\n", b"", 0)


def test_verbs_report_error_replies_on_stderr(redis_server: RedisServer, key: str) -> None:
    with kvstore.Client(redis_server.address) as client:
        client.delete(key)
        client.execute_command("RPUSH", key, "item")
    result = run_client(redis_server.address, "get", key)
    message = b"error: WRONGTYPE Operation against a key holding the wrong kind of value\n"
    assert_result(result, b"", message, 1)


def test_password_option(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = start_redis_server(tmp_path_factory.mktemp("auth"), "--requirepass", "pw")
    try:
        node = server.address
        assert_result(run_client("--password", "pw", node, "set", "k", "v"), b"", b"", 0)
        env = {**os.environ, "KVSTORE_PASSWORD": "pw"}
        assert_result(run_client(node, "get", "k", env=env), b"v\n", b"", 0)
        refused = run_client("--password", "bad", node, "get", "k")
        assert refused.returncode == 2
        assert refused.stderr.startswith(b"error: WRONGPASS ")
        missing = run_client(node, "get", "k")
        hint = b"error: authentication required: give the password with --password or "
        assert_result(missing, b"", hint + b"KVSTORE_PASSWORD\n", 2)
    finally:
        server.stop()


# -- other commands: printed as redis-cli prints to a pipe ------------------------------------

#: (setup commands run on both servers first, the command compared)
PASSTHROUGH = {
    "ping": ([], ["ping"]),
    "quit": ([], ["quit"]),
    "ping-message": ([], ["ping", "hello there"]),
    "echo": ([], ["echo", "two words"]),
    "exists": ([["set", "pt:a", "1"], ["del", "pt:b"]], ["exists", "pt:a", "pt:b", "pt:a"]),
    "del-many": ([["set", "pt:c", "1"], ["set", "pt:d", "1"]], ["del", "pt:c", "pt:d", "pt:e"]),
    "set-with-options": ([["del", "pt:f"]], ["set", "pt:f", "v", "ex", "60"]),
    "set-nx-refused": ([["set", "pt:g", "1"]], ["set", "pt:g", "2", "nx"]),
    "get-nil-as-passthrough": ([["del", "pt:h"]], ["get", "pt:h", "x", "y"]),
    "setnx": ([["del", "pt:i"]], ["setnx", "pt:i", "1"]),
    "array": ([], ["config", "get", "appendfsync"]),
    "unknown-command": ([], ["nosuchcommand", "a", "b"]),
    "wrong-arity": ([], ["get"]),
    "syntax-error": ([], ["set", "k", "v", "bogus"]),
    "not-an-integer": ([], ["set", "k", "v", "ex", "soon"]),
    "info-unknown-section": ([], ["info", "nosuch"]),
    "exec-without-multi": ([], ["exec"]),
}


@pytest.mark.parametrize("case", sorted(PASSTHROUGH))
def test_other_commands_print_like_redis_cli(
    fast_server: ServerProcess, redis_server: RedisServer, case: str
) -> None:
    setup, command = PASSTHROUGH[case]
    assert_prints_like_redis_cli(fast_server.address, redis_server, setup, command)


def test_error_reply_format_is_redis_clis(fast_server: ServerProcess) -> None:
    """Pinned, in case redis-cli changes: an error is printed on stdout, exit status 0."""
    result = run_client(fast_server.address, "get")
    assert_result(result, b"ERR wrong number of arguments for 'get' command\n\n", b"", 0)


def test_passthrough_of_a_map_after_hello_3(fast_server: ServerProcess) -> None:
    result = run_client(fast_server.address, "hello", "3")
    lines = result.stdout.decode().splitlines()
    assert lines[:3] == ["server kvstore", "version " + kvstore.__version__, "proto 3"]
    assert lines[-1] == "modules "  # an empty array prints as nothing
    assert result.returncode == 0


# -- failures --------------------------------------------------------------------------------


def test_unreachable_server() -> None:
    with closed_port() as port:
        result = run_client(f"127.0.0.1:{port}", "get", "k")
        interactive = run_client("127.0.0.1", str(port))
    message = f"error: cannot connect to 127.0.0.1:{port} (Connection refused)\n"
    assert_result(result, b"", message.encode(), 2)
    assert_result(interactive, b"", message.encode(), 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing <node>"),
        (["host:port", "get", "k"], "invalid port 'port'"),
        (["[::1", "get", "k"], "invalid address '[::1'"),
        (["127.0.0.1:5000", "6000"], "already has a port"),
        (["127.0.0.1", "99999"], "invalid port '99999'"),
        (["127.0.0.1", "put", "k"], "put takes a key and a value"),
        (["127.0.0.1", "put", "k", "a", "b"], "put takes a key and a value"),
        (["--timeout", "soon", "127.0.0.1"], "expected a number of seconds"),
        (["--bogus", "127.0.0.1", "ping"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_client(*args)
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr.decode()


def test_help_and_version() -> None:
    help_result = run_client("--help")
    assert help_result.returncode == 0
    text = help_result.stdout.decode()
    for needle in ("<node>", "set <key> <value>", "put <key> <value>", "del <key>", "redis-cli"):
        assert needle in text
    version = run_client("--version")
    assert version.returncode == 0
    assert version.stdout.decode().split()[-1] == kvstore.__version__


def test_closed_stdout_is_quiet(fast_server: ServerProcess, key: str) -> None:
    run_client(fast_server.address, "set", key, "x" * 100_000)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, str(CLIENT), fast_server.address, "get", key],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.stderr == b""
    assert result.returncode == 1
