"""Malformed input over real sockets: the sender gets its error and is cut off, and the clients
around it, in the middle of their own requests, keep working and lose nothing."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conftest import ServerProcess, read_exactly, read_to_eof
from kvstore.protocol import encode_request


@dataclass
class Bystander:
    """A client with a burst of requests in flight, half of it sent, its last request cut."""

    sock: socket.socket
    rest: bytes
    expected: bytes

    def finish(self) -> None:
        self.sock.sendall(self.rest)
        assert read_exactly(self.sock, len(self.expected)) == self.expected


def resp_bystander(server: ServerProcess, *, cut_after_argument: bool) -> Bystander:
    key = ("by-resp-" + uuid.uuid4().hex).encode()
    requests = b""
    expected = b""
    for i in range(200):
        value = b"%d" % i
        if i == 100:
            # Either right after the first argument of a frame (the frame is incomplete, yet
            # every byte received so far is a whole element) or inside its header line.
            cut = len(requests) + (len(b"*3\r\n$3\r\nSET\r\n") if cut_after_argument else 6)
        requests += encode_request([b"SET", key, value]) + encode_request([b"GET", key])
        expected += b"+OK\r\n$%d\r\n%b\r\n" % (len(value), value)
    sock = server.connect()
    sock.sendall(requests[:cut])
    return Bystander(sock, requests[cut:], expected)


def text_bystander(server: ServerProcess) -> Bystander:
    key = ("by-text-" + uuid.uuid4().hex).encode()
    requests = b""
    expected = b""
    for i in range(200):
        requests += b"set %b value %d\r\nget %b\r\n" % (key, i, key)
        expected += b"OK\r\nvalue %d\r\n" % i
    sock = server.connect()
    cut = len(requests) // 2 + 3  # inside a line
    sock.sendall(requests[:cut])
    return Bystander(sock, requests[cut:], expected)


@pytest.fixture
def bystanders(server: ServerProcess) -> Iterator[list[Bystander]]:
    around = [
        resp_bystander(server, cut_after_argument=True),
        resp_bystander(server, cut_after_argument=False),
        text_bystander(server),
    ]
    yield around
    for bystander in around:
        bystander.sock.close()


def send_bad(server: ServerProcess, data: bytes) -> bytes:
    """Send ``data`` and return everything the server answers before closing."""
    with server.connect() as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # the server may close before it has read everything
        return read_to_eof(sock)


RESP_CASES: dict[str, tuple[bytes, str]] = {
    "inline-unbalanced-quotes": (b'SET k "v\r\n', "unbalanced quotes in request"),
    "inline-too-long": (b"SET k " + b"v" * 70_000, "too big inline request"),
    "count-not-number": (b"*abc\r\n", "invalid multibulk length"),
    "count-leading-zero": (b"*01\r\n$1\r\na\r\n", "invalid multibulk length"),
    "count-huge": (b"*99999999\r\n", "invalid multibulk length"),
    "dollar-expected": (b"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'"),
    "nested-array": (b"*1\r\n*1\r\n$1\r\na\r\n", "expected '$', got '*'"),
    "resp3-set": (b"*1\r\n~1\r\n$1\r\na\r\n", "expected '$', got '~'"),
    "resp3-push": (b"*1\r\n>1\r\n$1\r\na\r\n", "expected '$', got '>'"),
    "simple-string": (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
    "bulk-negative": (b"*1\r\n$-1\r\n", "invalid bulk length"),
    "bulk-not-number": (b"*1\r\n$x1\r\n", "invalid bulk length"),
    "bulk-too-large": (b"*1\r\n$600000000\r\n", "invalid bulk length"),
    "mbulk-header-too-long": (b"*" + b"1" * 70_000, "too big mbulk count string"),
    "bulk-header-too-long": (b"*1\r\n$" + b"1" * 70_000, "too big bulk count string"),
}


@pytest.mark.parametrize("case", sorted(RESP_CASES))
def test_resp_protocol_errors(
    server: ServerProcess, bystanders: list[Bystander], case: str
) -> None:
    bad, message = RESP_CASES[case]
    key = ("bad-" + uuid.uuid4().hex).encode()
    good = encode_request([b"SET", key, b"before"]) + encode_request([b"GET", key])
    after = encode_request([b"SET", key, b"after"])
    tail = b"" if case.endswith("too-long") else after  # a CRLF would end the long line
    answer = send_bad(server, good + bad + tail)
    assert answer == b"+OK\r\n$6\r\nbefore\r\n-ERR Protocol error: " + message.encode() + b"\r\n"
    for bystander in bystanders:
        bystander.finish()
    # The requests before the bad one ran; nothing after it did.
    with server.connect() as check:
        check.sendall(encode_request([b"GET", key]))
        assert read_exactly(check, 12) == b"$6\r\nbefore\r\n"


def test_a_resp3_boolean_after_a_frame_is_an_inline_request(server: ServerProcess) -> None:
    # hiredis reads "#f" as false, which its reader also returns for "nothing complete yet";
    # Redis reads the line as an inline request, and so must both parsers.
    with server.connect() as sock:
        sock.sendall(encode_request([b"PING"]) + b"#f\r\n" + encode_request([b"PING"]))
        expected = b"+PONG\r\n-ERR unknown command '#f', with args beginning with: \r\n+PONG\r\n"
        assert read_exactly(sock, len(expected)) == expected


def test_many_bad_clients_at_once(server: ServerProcess, bystanders: list[Bystander]) -> None:
    bad_socks = [server.connect() for _ in range(20)]
    for i, sock in enumerate(bad_socks):
        sock.sendall(encode_request([b"PING"]) + (b"*1\r\n:%d\r\n" % i))
    for sock in bad_socks:
        assert read_to_eof(sock) == b"+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"
        sock.close()
    for bystander in bystanders:
        bystander.finish()


@pytest.mark.parametrize("terminator", [b"\n", b"\r\n", b""])
def test_text_line_too_long(
    server: ServerProcess, bystanders: list[Bystander], terminator: bytes
) -> None:
    key = ("bad-" + uuid.uuid4().hex).encode()
    data = b"set %b before\r\nget %b\n" % (key, key)
    data += b"set " + key + b" " + b"x" * (64 * 1024) + terminator
    answer = send_bad(server, data)
    assert answer == b"OK\r\nbeforeerror: request too long"
    for bystander in bystanders:
        bystander.finish()
    with server.connect() as check:
        check.sendall(b"get " + key + b"\r\n")
        assert read_exactly(check, 8) == b"before\r\n"


def test_text_junk_is_an_error_not_a_disconnect(
    server: ServerProcess, bystanders: list[Bystander]
) -> None:
    with server.connect() as sock:
        sock.sendall(b"\xff\xfe\x00garbage\r\n\x00\r\n\t\r\nping\r\n")
        replies = b""
        while not replies.endswith(b"PONG\r\n"):
            chunk = sock.recv(4096)
            assert chunk, "connection closed"
            replies += chunk
        lines = replies.split(b"\r\n")[:-1]
        assert len(lines) == 4
        assert all(line.startswith(b"error: ") for line in lines[:3])
        assert lines[3] == b"PONG"
    for bystander in bystanders:
        bystander.finish()


def test_empty_lines_between_resp_requests_are_skipped(server: ServerProcess) -> None:
    ping = encode_request([b"PING"])
    with server.connect() as sock:
        sock.sendall(ping + b"\r\n" + ping + b"\n\r\n" + ping)
        assert read_exactly(sock, 21) == b"+PONG\r\n" * 3
        sock.sendall(b"\r")  # a CR alone in its packet, then its LF
        sock.sendall(b"\n" + ping)
        assert read_exactly(sock, 7) == b"+PONG\r\n"


def test_client_vanishing_mid_request(server: ServerProcess, bystanders: list[Bystander]) -> None:
    for partial in (b"*3\r\n$3\r\nSET\r\n$1\r\nk", b"set k half a line", b"*2\r\n$100\r\nab"):
        sock = server.connect()
        sock.sendall(partial)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # with linger 0: a reset, not a clean close
    for bystander in bystanders:
        bystander.finish()
