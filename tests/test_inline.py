"""Inline requests (a command as a line of words) over real sockets, on both server variants:
inside RESP connections as Redis reads them, and a first line of words answered in the text
protocol (the default) or in RESP (``--inline-replies resp``)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from conftest import VARIANTS, ServerProcess, read_exactly, read_to_eof, start_server
from kvstore.protocol import encode_request


def exchange(sock: socket.socket, request: bytes, reply: bytes) -> None:
    sock.sendall(request)
    assert read_exactly(sock, len(reply)) == reply


def key() -> bytes:
    return ("inline-" + uuid.uuid4().hex).encode()


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def resp_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server whose plain port answers a first line of words in RESP, as Redis does."""
    process = start_server(*VARIANTS[request.param], "--inline-replies", "resp")
    yield process
    process.stop()


# -- inside a RESP connection (either setting) -----------------------------------------------


def test_inline_requests_after_a_resp_request_run(server: ServerProcess) -> None:
    name = key()
    with server.connect() as sock:
        exchange(sock, encode_request([b"PING"]), b"+PONG\r\n")
        exchange(
            sock,
            b"SET " + name + b" xyzk\r\nGET " + name + b"\r\nPING\r\n",
            b"+OK\r\n$4\r\nxyzk\r\n+PONG\r\n",
        )
        # Redis's quoting, a bare \n, blank lines skipped, RESP again after.
        exchange(
            sock,
            b'set "' + name + b'" "a\\x41 \\"b\\"" \n\r\n  \r\nget ' + name + b"\r\n",
            b'+OK\r\n$6\r\naA "b"\r\n',
        )
        exchange(sock, encode_request([b"STRLEN", name]), b":6\r\n")
        # A line of words that merely looks like RESP is a command like any other.
        exchange(
            sock,
            b"$3\r\n#f\r\n",
            b"-ERR unknown command '$3', with args beginning with: \r\n"
            b"-ERR unknown command '#f', with args beginning with: \r\n",
        )
        exchange(sock, encode_request([b"PING"]), b"+PONG\r\n")


def test_inline_request_errors_close_a_resp_connection(server: ServerProcess) -> None:
    for bad, message in (
        (b'GET "k\r\n', b"unbalanced quotes in request"),
        (b"GET 'k'x\r\n", b"unbalanced quotes in request"),
        (b"GET " + b"k" * 70_000, b"too big inline request"),
    ):
        with server.connect() as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(encode_request([b"PING"]) + bad)
            assert read_to_eof(sock) == b"+PONG\r\n-ERR Protocol error: " + message + b"\r\n"


def test_opening_empty_lines_do_not_decide_the_protocol(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(b"\r\n")
        sock.sendall(b"\n\r\n")
        exchange(sock, encode_request([b"PING"]), b"+PONG\r\n")
        exchange(sock, b"PING\r\n", b"+PONG\r\n")


def test_redis_cli_inline_pipe(resp_server: ServerProcess) -> None:
    # redis-cli --pipe with a file of inline commands, as Redis's mass-insertion guide allows:
    # the first line is a line of words, so this takes --inline-replies resp.
    server = resp_server
    name = key().decode()
    done = subprocess.run(
        ["redis-cli", "-p", str(server.port), "--pipe"],
        input=f"SET {name} 1\r\nINCR {name}\r\n".encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert b"errors: 0, replies: 2" in done.stdout
    out = subprocess.run(
        ["redis-cli", "-p", str(server.port), "get", name],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert out.stdout == b"2\n"


# -- a connection that starts with a line of words ----------------------------------------


def test_text_protocol_by_default(server: ServerProcess) -> None:
    name = key()
    with server.connect() as sock:  # the socket-programming assignment's client: bare \n
        exchange(sock, b"put " + name + b" v\n", b"OK")
        exchange(sock, b"put " + name + b" w\n", b"Key already exists")
        exchange(sock, b"get " + name + b"\n", b"v")
        exchange(sock, b"del " + name + b"\n", b"OK")
        exchange(sock, b"get " + name + b"\n", b"Key not found")
        sock.sendall(b"Bye\n")
        assert read_to_eof(sock) == b"Goodbye"
    with server.connect() as sock:  # telnet, nc -C: \r\n
        exchange(sock, b"PING\r\n", b"PONG\r\n")
        exchange(sock, b"get " + name + b"\r\n", b"Key not found\r\n")


def test_inline_replies_resp(resp_server: ServerProcess) -> None:
    name = key()
    with resp_server.connect() as sock:  # printf 'PING\r\n' | nc host port
        exchange(sock, b"\r\nPING\r\n", b"+PONG\r\n")
        exchange(sock, b"set " + name + b" 'a b'\n", b"+OK\r\n")
        exchange(sock, b"get " + name + b"\r\n", b"$3\r\na b\r\n")
        exchange(sock, encode_request([b"GET", name]), b"$3\r\na b\r\n")
        exchange(
            sock,
            b"put " + name + b" v\n",
            b"-ERR unknown command 'put', with args beginning with: '" + name + b"' 'v' \r\n",
        )
    with resp_server.connect() as sock:
        sock.sendall(b"QUIT\r\n")
        assert read_to_eof(sock) == b"+OK\r\n"
    with resp_server.connect() as sock:
        sock.sendall(b'GET "k\r\n')
        assert read_to_eof(sock) == b"-ERR Protocol error: unbalanced quotes in request\r\n"


def test_inline_replies_resp_still_refuses_http(resp_server: ServerProcess) -> None:
    with resp_server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_to_eof(sock) == b""
