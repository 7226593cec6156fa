"""Hostile input over real sockets: every bad-input case of Redis's protocol tests and their
text-protocol counterparts gets a clear error and a close, HTTP is cut off, and a hundred
well-behaved clients working on the same server all the while see no error and lose nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import ServerProcess, read_exactly, read_to_eof, wait_for
from hostile_support import Bystanders, exchange, send_until_closed
from kvstore.protocol import encode_request


@pytest.fixture(scope="module")
def bystanders(server: ServerProcess) -> Iterator[Bystanders]:
    clients = Bystanders(server)
    clients.start()
    clients.wait_busy()
    yield clients
    assert clients.stop_and_verify() >= clients.count


def send_bad(server: ServerProcess, data: bytes) -> bytes:
    with server.connect() as sock:
        sock.sendall(data)
        return read_to_eof(sock, timeout=30)


# Redis's tests/unit/protocol.tcl, case by case: what is sent, and the whole answer before EOF.
CLOSING_CASES: dict[str, tuple[bytes, bytes]] = {
    "out-of-range-multibulk-length": (
        b"*20000000\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    ),
    "multibulk-length-not-a-number": (
        b"*3x\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    ),
    "wrong-multibulk-payload-header": (
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
        b"-ERR Protocol error: expected '$', got 'f'\r\n",
    ),
    "negative-bulk-length": (
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    ),
    "out-of-range-bulk-length": (
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    ),
    "non-number-bulk-length": (
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    ),
    "multibulk-not-followed-by-bulk": (
        b"*1\r\nfoo\r\n",
        b"-ERR Protocol error: expected '$', got 'f'\r\n",
    ),
    "text-line-too-long": (
        b"set k " + b"x" * (70 * 1024) + b"\r\n",
        b"error: request too long",
    ),
}


@pytest.mark.parametrize("case", sorted(CLOSING_CASES))
def test_bad_input_gets_an_error_and_a_close(
    server: ServerProcess, bystanders: Bystanders, case: str
) -> None:
    data, answer = CLOSING_CASES[case]
    assert send_bad(server, data) == answer


@pytest.mark.parametrize(
    ("first", "answer"),
    [
        (b"\x00", b"error: request too long"),  # the text protocol: a line that never ends
        (b"*\x00", b"-ERR Protocol error: too big mbulk count string\r\n"),
        (b"$\x00", b"error: request too long"),
    ],
)
def test_desync_then_endless_junk_is_cut_off(
    server: ServerProcess, bystanders: Bystanders, first: bytes, answer: bytes
) -> None:
    # Redis's "protocol desync" cases: a stray byte, then junk with no newline, forever.
    assert send_until_closed(server, first, b"A" * 1024) == answer


def test_empty_query_then_commands_still_work(
    server: ServerProcess, bystanders: Bystanders
) -> None:
    with server.connect() as sock:
        sock.sendall(b"\r\n")  # an opening empty line is skipped: it decides nothing
        exchange(sock, b"ping\r\n", b"PONG\r\n")
        exchange(sock, b"\r\n", b"error: empty request\r\n")
        exchange(sock, b"ping\r\n", b"PONG\r\n")


def test_negative_multibulk_length_is_skipped(
    server: ServerProcess, bystanders: Bystanders
) -> None:
    with server.connect() as sock:
        exchange(sock, b"*-10\r\n" + encode_request([b"PING"]), b"+PONG\r\n")


def test_wrong_number_of_arguments_keeps_the_connection(
    server: ServerProcess, bystanders: Bystanders
) -> None:
    with server.connect() as sock:
        error = b"-ERR wrong number of arguments for 'ping' command\r\n"
        exchange(sock, encode_request([b"PING", b"x", b"y", b"z"]), error)
        exchange(sock, encode_request([b"PING"]), b"+PONG\r\n")


def test_unbalanced_quotes_are_plain_bytes_in_the_text_protocol(
    server: ServerProcess, bystanders: Bystanders
) -> None:
    # Redis's inline protocol has quoting and refuses an unbalanced quote; the text protocol has
    # none, so a quote is an ordinary byte of a key or value.
    with server.connect() as sock:
        exchange(sock, b'set "quoted he said "hi\r\n', b"OK\r\n")
        exchange(sock, b'get "quoted\r\n', b'he said "hi\r\n')


HTTP_CASES = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /api HTTP/1.0\r\nContent-Length: 14\r\n\r\nset evil value",
    b"Host: 127.0.0.1:5000\r\n",
    b"post\r\nset evil value\r\n",
    b"GET /index.html HTTP/1.1\n",
]


@pytest.mark.parametrize("request_bytes", HTTP_CASES)
def test_http_is_cut_off_without_a_reply(
    server: ServerProcess, bystanders: Bystanders, request_bytes: bytes
) -> None:
    assert send_bad(server, request_bytes) == b""
    with server.connect() as sock:
        exchange(sock, b"get evil\r\n", b"Key not found\r\n")
    wait_for(lambda: any("sent HTTP" in line for line in server.log), 10, "the security log line")


def test_get_with_the_text_protocol_is_not_http(
    server: ServerProcess, bystanders: Bystanders
) -> None:
    with server.connect() as sock:
        exchange(sock, b"get foo\r\n", b"Key not found\r\n")
        exchange(sock, b"set foo HTTP/1.1\r\n", b"OK\r\n")
        exchange(sock, b"get foo HTTP/1.1\r\n", b"HTTP/1.1\r\n")
        exchange(sock, b"GET foo\r\n", b"HTTP/1.1\r\n")


def test_many_bad_clients_at_once_leave_the_good_ones_alone(
    server: ServerProcess, bystanders: Bystanders
) -> None:
    cases = list(CLOSING_CASES.values()) * 3
    socks = [server.connect() for _ in cases]
    for sock, (data, _) in zip(socks, cases, strict=True):
        sock.sendall(data)
    for sock, (_, answer) in zip(socks, cases, strict=True):
        assert read_to_eof(sock, timeout=30) == answer
        sock.close()
    with server.connect() as sock:
        exchange(sock, encode_request([b"PING"]), b"+PONG\r\n")
        assert read_exactly(sock, 0) == b""
