"""MONITOR on a real server, against a real redis-server's lines for the same commands."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from conftest import ServerProcess, read_exactly
from kvstore.protocol import encode_request
from test_client_support import RedisServer, start_redis_server

LINE = re.compile(rb"^\+(\d+\.\d{6}) \[(\d+) ([^\]]+)\] (.*)$")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    process = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield process
    process.stop()


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"closed after {data!r}")
        data += chunk
    return data[:-2]


def monitored(port: int) -> list[tuple[bytes, bytes]]:
    """What a monitor sees of another client's commands: (db, arguments) per line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as monitor:
        monitor.sendall(encode_request([b"MONITOR"]))
        assert read_exactly(monitor, 5) == b"+OK\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            requests = [
                [b"SET", b"k", b'a "quoted"\n\x00\xff value'],
                [b"GET", b"k"],
                [b"SELECT", b"3"],
                [b"EXISTS", b"k", b"j"],
                [b"GET"],  # refused (arity): not shown
                [b"NOSUCH"],  # unknown: not shown
                [b"CONFIG", b"GET", b"maxmemory"],  # administrative: not shown
                [b"MULTI"],
                [b"INCR", b"n"],
                [b"EXEC"],
                [b"PING", b"last"],
            ]
            for args in requests:
                client.sendall(encode_request(args))
            client.sendall(encode_request([b"ECHO", b"end"]))
            seen = []
            while True:
                match = LINE.match(read_line(monitor))
                assert match is not None
                seen.append((match.group(2), match.group(4)))
                if match.group(4) == b'"ECHO" "end"':
                    return seen


def test_monitor_lines_as_redis(server: ServerProcess, reference: RedisServer) -> None:
    ours = monitored(server.port)
    theirs = monitored(reference.port)
    assert ours == theirs
    assert (b"0", b'"SET" "k" "a \\"quoted\\"\\n\\x00\\xff value"') in ours


def test_monitor_hides_passwords(server: ServerProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as monitor:
        monitor.sendall(encode_request([b"MONITOR"]))
        assert read_exactly(monitor, 5) == b"+OK\r\n"
        with socket.create_connection((server.host, server.port), timeout=10) as client:
            for args in (
                [b"AUTH", b"default", b"secret"],
                [b"HELLO", b"2", b"AUTH", b"default", b"secret", b"SETNAME", b"x"],
                [b"ECHO", b"end"],
            ):
                client.sendall(encode_request(args))
            lines: list[bytes] = []
            while not lines or not lines[-1].endswith(b'"ECHO" "end"'):
                lines.append(read_line(monitor))
    assert not any(b"secret" in line for line in lines)
    assert any(line.endswith(b'] "AUTH" "(redacted)" "(redacted)"') for line in lines)
    hello = b'"HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "x"'
    assert any(line.endswith(hello) for line in lines)


def test_monitor_stops_with_its_client(server: ServerProcess) -> None:
    for _ in range(2):
        with socket.create_connection((server.host, server.port), timeout=10) as monitor:
            monitor.sendall(encode_request([b"MONITOR"]))
            assert read_exactly(monitor, 5) == b"+OK\r\n"
    with socket.create_connection((server.host, server.port), timeout=10) as client:
        client.sendall(encode_request([b"PING"]))
        assert read_exactly(client, 7) == b"+PONG\r\n"


def reset_monitor(port: int) -> tuple[bytes, bytes, bytes]:
    """A monitor sends RESET: its reply, then the CLIENT LIST another client sees, then the
    reply to the former monitor's next command."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as monitor:
        monitor.sendall(encode_request([b"MONITOR"]))
        assert read_exactly(monitor, 5) == b"+OK\r\n"
        monitor.sendall(encode_request([b"RESET"]))
        reset = read_line(monitor)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(encode_request([b"CLIENT", b"LIST"]))
            size = int(read_line(client)[1:])
            listing = read_exactly(client, size + 2)
        monitor.sendall(encode_request([b"PING"]))
        return reset, listing, read_line(monitor)


@pytest.mark.parametrize("target", ["kvstore", "redis"])
def test_reset_ends_monitor_mode(
    target: str, server: ServerProcess, reference: RedisServer
) -> None:
    # As Redis 7.0 (its unit/other "RESET clears MONITOR state"): the RESET is not shown to the
    # connection that sent it, and it is a plain client again.
    reset, listing, after = reset_monitor(server.port if target == "kvstore" else reference.port)
    assert reset == b"+RESET"
    assert b"flags=O" not in listing
    assert after == b"+PONG"
