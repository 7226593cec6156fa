"""The text line protocol over real sockets, on both server variants."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator

import pytest

from conftest import ServerProcess, read_exactly, read_to_eof
from kvstore.protocol import encode_request

MAX_LINE = 64 * 1024


def read_line(sock: socket.socket) -> bytes:
    """One CRLF-terminated reply line, terminator included."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    return data


def exchange(sock: socket.socket, request: bytes, reply: bytes) -> None:
    """Send ``request`` and expect exactly ``reply`` (then nothing more before the next)."""
    sock.sendall(request)
    assert read_exactly(sock, len(reply)) == reply


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[socket.socket]:
    sock = server.connect()
    yield sock
    sock.close()


@pytest.fixture
def key() -> str:
    return "text-" + uuid.uuid4().hex


def test_lf_requests_get_replies_without_terminator(conn: socket.socket, key: str) -> None:
    k = key.encode()
    exchange(conn, b"put " + k + b" 2\n", b"OK")
    exchange(conn, b"put " + k + b" 3\n", b"Key already exists")
    exchange(conn, b"get " + k + b"\n", b"2")
    # The next reply starts right after: no stray terminator was sent.
    exchange(conn, b"get " + k + b"\r\n", b"2\r\n")


def test_crlf_requests_get_crlf_replies(conn: socket.socket, key: str) -> None:
    k = key.encode()
    exchange(conn, b"set " + k + b" 1\r\n", b"OK\r\n")
    exchange(conn, b"get " + k + b"\r\n", b"1\r\n")
    exchange(conn, b"del " + k + b"\r\n", b"OK\r\n")
    exchange(conn, b"get " + k + b"\r\n", b"Key not found\r\n")
    exchange(conn, b"del " + k + b"\r\n", b"Key not found\r\n")


def test_every_verb(conn: socket.socket, key: str) -> None:
    k = key.encode()
    exchange(conn, b"put " + k + b" a\r\n", b"OK\r\n")
    exchange(conn, b"set " + k + b" b\r\n", b"OK\r\n")  # set overwrites
    exchange(conn, b"put " + k + b" c\r\n", b"Key already exists\r\n")  # put does not
    exchange(conn, b"get " + k + b" ignored\r\n", b"b\r\n")
    exchange(conn, b"exists " + k + b"\r\n", b"1\r\n")
    exchange(conn, b"ping\r\n", b"PONG\r\n")
    exchange(conn, b"ping hello\r\n", b"hello\r\n")
    exchange(conn, b"del " + k + b"\r\n", b"OK\r\n")
    exchange(conn, b"exists " + k + b"\r\n", b"0\r\n")


def test_command_names_are_case_insensitive(conn: socket.socket, key: str) -> None:
    k = key.encode()
    exchange(conn, b"PUT " + k + b" 1\r\n", b"OK\r\n")
    exchange(conn, b"GeT " + k + b"\r\n", b"1\r\n")
    exchange(conn, b"Set " + k + b" 2\r\n", b"OK\r\n")
    exchange(conn, b"EXISTS " + k + b"\r\n", b"1\r\n")
    exchange(conn, b"DEL " + k + b"\r\n", b"OK\r\n")


def test_value_is_the_rest_of_the_line(
    server: ServerProcess, conn: socket.socket, key: str
) -> None:
    k = key.encode()
    exchange(conn, b"set " + k + b"   hello big  world\r\n", b"OK\r\n")
    exchange(conn, b"get " + k + b"\r\n", b"hello big  world\r\n")
    # The same value, as a RESP client sees it.
    with server.connect() as resp:
        exchange(resp, encode_request([b"GET", k]), b"$16\r\nhello big  world\r\n")


def test_several_lines_in_one_send_get_one_reply_each(conn: socket.socket, key: str) -> None:
    k = key.encode()
    requests = b"".join(b"set " + k + b"%d %d\r\n" % (i, i) for i in range(100))
    requests += b"".join(b"get " + k + b"%d\r\n" % i for i in range(100))
    conn.sendall(requests)
    assert [read_line(conn) for _ in range(200)] == [b"OK\r\n"] * 100 + [
        b"%d\r\n" % i for i in range(100)
    ]
    # With bare LF, the replies follow one another with nothing in between.
    conn.sendall(b"get " + k + b"1\nget " + k + b"2\nget " + k + b"3\r\n")
    assert read_exactly(conn, 5) == b"123\r\n"


def test_a_line_in_many_pieces(conn: socket.socket, key: str) -> None:
    line = b"set " + key.encode() + b" piece by piece\r\n"
    for i in range(len(line)):
        conn.sendall(line[i : i + 1])
    assert read_exactly(conn, 4) == b"OK\r\n"
    exchange(conn, b"get " + key.encode() + b"\r\n", b"piece by piece\r\n")


ERRORS = [
    (b"", b"error: "),
    (b"   ", b"error: "),
    (b"foo", b"error: unknown command 'foo'"),
    (b"foo bar baz", b"error: unknown command 'foo'"),
    (b"put", b"error: wrong number of arguments"),
    (b"put k", b"error: wrong number of arguments"),
    (b"set k", b"error: wrong number of arguments"),
    (b"get", b"error: wrong number of arguments"),
    (b"del", b"error: wrong number of arguments"),
    (b"del a b", b"error: wrong number of arguments"),
    (b"Bye now", b"error: wrong number of arguments"),
    (b"exists", b"error: wrong number of arguments"),
    (b"ping a b", b"error: wrong number of arguments"),
    (b"flushdb now", b"error: syntax error"),
    (b"select 16", b"error: DB index is out of range"),
]


@pytest.mark.parametrize(("line", "start"), ERRORS, ids=[repr(line) for line, _ in ERRORS])
def test_errors_get_one_line_and_keep_the_connection(
    conn: socket.socket, line: bytes, start: bytes
) -> None:
    exchange(conn, b"ping\r\n", b"PONG\r\n")  # text now: an empty line is an error, not skipped
    conn.sendall(line + b"\r\n" + b"ping\r\n")
    reply = read_line(conn)
    assert reply.startswith(start)
    assert reply.count(b"\n") == 1
    assert read_line(conn) == b"PONG\r\n"  # one reply per line, and the connection lives
    conn.sendall(line + b"\n" + b"ping\r\n")  # the LF form: no terminator after the error
    data = b""
    while not data.endswith(b"PONG\r\n"):
        chunk = conn.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    assert data == reply[:-2] + b"PONG\r\n"


def test_bye_says_goodbye_and_closes(server: ServerProcess) -> None:
    for bye, reply in ((b"Bye\n", b"Goodbye"), (b"bye\r\n", b"Goodbye\r\n")):
        with server.connect() as sock:
            sock.sendall(b"ping\r\n" + bye + b"ping\r\n")  # nothing after Bye is answered
            assert read_to_eof(sock) == b"PONG\r\n" + reply


def test_quit_is_bye(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(b"QUIT\r\n")
        assert read_to_eof(sock) == b"Goodbye\r\n"


def test_longest_line_is_accepted(conn: socket.socket, key: str) -> None:
    head = b"set " + key.encode() + b" "
    value = b"x" * (MAX_LINE - len(head))
    exchange(conn, head + value + b"\r\n", b"OK\r\n")
    conn.sendall(b"get " + key.encode() + b"\r\n")
    assert read_exactly(conn, len(value) + 2) == value + b"\r\n"


@pytest.mark.parametrize(
    ("terminator", "size"),
    # Without a terminator, MAX_LINE + 1 bytes may still be MAX_LINE and the "\r" of a CRLF.
    [(b"\n", MAX_LINE + 1), (b"\r\n", MAX_LINE + 1), (b"", MAX_LINE + 2)],
)
def test_too_long_line_closes_the_connection(
    server: ServerProcess, terminator: bytes, size: int
) -> None:
    with server.connect() as sock:
        sock.sendall(b"ping\r\n")
        assert read_line(sock) == b"PONG\r\n"
        line = b"set k " + b"x" * (size - 6) + terminator
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(line)  # the server may close before it has read everything
        assert read_to_eof(sock) == b"error: request too long"


def test_first_byte_picks_text_for_the_whole_connection(conn: socket.socket) -> None:
    conn.sendall(b"\r\n\n")  # empty lines before the first request decide nothing
    exchange(conn, b"ping\r\n", b"PONG\r\n")
    exchange(conn, b"\r\n", b"error: empty request\r\n")
    # Once a connection speaks text, a RESP frame is just more lines of text.
    conn.sendall(b"*1\r\n$4\r\nPING\r\n")
    assert read_line(conn).startswith(b"error: unknown command '*1'")
    assert read_line(conn).startswith(b"error: unknown command '$4'")
    assert read_line(conn) == b"PONG\r\n"


def test_empty_replies_still_reach_the_client(server: ServerProcess, conn: socket.socket) -> None:
    # Every line gets a reply of at least one byte, or a client doing one read() would hang.
    key = ("text-" + uuid.uuid4().hex).encode()
    with server.connect() as resp:
        exchange(resp, encode_request([b"SET", key, b""]), b"+OK\r\n")
    conn.sendall(b"get " + key + b"\n")
    conn.settimeout(5)
    assert conn.recv(255) == b'""'
    exchange(conn, b"get " + key + b"\r\n", b'""\r\n')
    # An empty map (no setting matches) is one line too, not nothing.
    exchange(conn, b"config get no-such-setting\r\n", b"(empty array)\r\n")
    conn.sendall(b"config get no-such-setting\n")
    assert conn.recv(255) == b"(empty array)"
