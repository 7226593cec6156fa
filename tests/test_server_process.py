"""The server as a program: options, environment, start-up errors, signals, many clients."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

from conftest import SERVER, ServerProcess, closed_port
from kvstore.protocol import encode_request


def run_server(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``./server`` expecting it to exit by itself (a bad option, say)."""
    return subprocess.run(
        [sys.executable, str(SERVER), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_help_lists_every_option() -> None:
    result = run_server("--help")
    assert result.returncode == 0
    for flag in ("--bind", "--port", "--log-level", "--event-loop", "--parser"):
        assert flag in result.stdout
    assert "KVSTORE_PORT" in result.stdout


def test_help_shows_the_defaults() -> None:
    help_text = " ".join(run_server("--help").stdout.split())  # argparse wraps lines
    for shown in (
        "TCP port to listen on (default: 5000; env KVSTORE_PORT)",
        "(default: 127.0.0.1; env KVSTORE_BIND)",
        "(default: ./data; env KVSTORE_DIR)",
        "(default: everysec; env KVSTORE_APPENDFSYNC)",
        "(default: 10000; env KVSTORE_MAXCLIENTS)",
        "(default: 0; env KVSTORE_MAXMEMORY)",
    ):
        assert shown in help_text


def test_version() -> None:
    result = run_server("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("kvstore-server 0.")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "abc"], {}, "--port: expected an integer, got 'abc'"),
        (["--port", "70000"], {}, "port 70000 is out of range"),
        (["--log-level", "loud"], {}, "invalid choice: 'loud'"),
        (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
        ([], {"KVSTORE_PORT": "many"}, "KVSTORE_PORT: expected an integer, got 'many'"),
        ([], {"KVSTORE_EVENT_LOOP": "trio"}, "KVSTORE_EVENT_LOOP: expected one of"),
    ],
)
def test_bad_option_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_server(*args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kvstore-server: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_address_in_use_is_one_line_and_exit_2(
    server_factory: Callable[..., ServerProcess],
) -> None:
    first = server_factory()
    result = run_server("--port", str(first.port))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"kvstore-server: error: cannot listen on 127.0.0.1:{first.port}: address already in use"
    )


def test_environment_sets_the_port_and_a_flag_wins(
    server_factory: Callable[..., ServerProcess],
) -> None:
    # The server passes --port; the environment's port, held where no server can bind it,
    # must lose to it.
    with closed_port() as env_port:
        server = server_factory(env={"KVSTORE_PORT": str(env_port)})
        assert f"127.0.0.1:{server.port}" in server.text
        with server.connect() as sock:
            sock.sendall(b"set k v\n")
            assert sock.recv(100) == b"OK"


def test_banner_names_the_loop_and_parser(server_factory: Callable[..., ServerProcess]) -> None:
    fast = server_factory("--event-loop", "uvloop", "--parser", "hiredis")
    pure = server_factory("--event-loop", "asyncio", "--parser", "python", "--pure")
    assert "event loop: uvloop, parser: hiredis" in "\n".join(fast.log)
    assert "event loop: asyncio, parser: python" in "\n".join(pure.log)


def test_listens_on_several_addresses(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory("--bind", "127.0.0.1", "127.0.0.2")
    for host in ("127.0.0.1", "127.0.0.2"):
        with socket.create_connection((host, server.port), timeout=10) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_with_exit_0(
    server_factory: Callable[..., ServerProcess], signum: signal.Signals
) -> None:
    server = server_factory()
    with server.connect() as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        assert sock.recv(100) == b"+OK\r\n"
        server.proc.send_signal(signum)
        assert server.proc.wait(timeout=15) == 0
        assert sock.recv(100) == b""  # the server closed the connection
    assert any("server stopped" in line for line in server.finish_log())


def test_two_thousand_clients_at_once(fast_server: ServerProcess) -> None:
    """Thousands of concurrent connections, each with its own key, all open at the same time."""
    count = 2000

    async def one(index: int, opened: asyncio.Event, all_open: list[int]) -> bool:
        reader, writer = await asyncio.open_connection(fast_server.host, fast_server.port)
        all_open[0] += 1
        if all_open[0] == count:
            opened.set()
        await opened.wait()
        key = b"conn:%d" % index
        writer.write(encode_request([b"SET", key, key]) + encode_request([b"GET", key]))
        expected = b"+OK\r\n$%d\r\n%b\r\n" % (len(key), key)
        reply = await reader.readexactly(len(expected))
        writer.close()
        await writer.wait_closed()
        return reply == expected

    async def main() -> list[bool]:
        opened = asyncio.Event()
        counter = [0]
        return await asyncio.wait_for(
            asyncio.gather(*(one(i, opened, counter) for i in range(count))), timeout=60
        )

    results = asyncio.run(main())
    assert results == [True] * count
