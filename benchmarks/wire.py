"""Just enough of the Redis protocol to drive both servers: one command at a time, and a
pipelined bulk loader. Independent of kvstore's own client so both sides are driven alike."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

Reply = bytes | int | None | list["Reply"]
#: A condition checked on a fresh connection (see Server.wait_until).
Check = Callable[[socket.socket], bool]

#: Keys are 16 bytes, as redis-benchmark's ``key:__rand_int__`` expands: ``key:`` + 12 digits.
KEY_FORMAT = "key:{:012d}"
#: Commands sent per batch by the loader; their replies (5 bytes each) stay far below socket
#: buffers, so the server never stalls on output while the loader is still sending.
LOAD_BATCH = 5000


class ServerReplyError(Exception):
    """The server answered with an error reply."""


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def encode(*args: bytes | str | int) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill()
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        return line

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def reply(self) -> Reply:
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise ServerReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.exactly(int(rest))
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.reply() for _ in range(count)]
        raise ConnectionError(f"unexpected reply line {line[:80]!r}")


def call(sock: socket.socket, *args: bytes | str | int) -> Reply:
    """Send one command and return its reply; an error reply raises ServerReplyError."""
    sock.sendall(encode(*args))
    return _Reader(sock).reply()


def set_commands(count: int, value_size: int) -> Iterator[bytes]:
    """``SET key:<n> <value>`` for n in 0..count-1, in batches of LOAD_BATCH commands."""
    value = b"v" * value_size
    head = b"*3\r\n$3\r\nSET\r\n$16\r\n"
    tail = b"\r\n$%d\r\n%s\r\n" % (value_size, value)
    for start in range(0, count, LOAD_BATCH):
        stop = min(start + LOAD_BATCH, count)
        yield b"".join(head + KEY_FORMAT.format(n).encode() + tail for n in range(start, stop))


def load(port: int, batches: list[bytes], count: int) -> None:
    """Send the batches pipelined, reading every batch's replies before the next; each reply of
    SET is one line (``+OK`` or an error), so counting line ends is enough."""
    with connect(port, timeout=60.0) as sock:
        sent = 0
        for batch in batches:
            sock.sendall(batch)
            expected = min(LOAD_BATCH, count - sent)
            sent += expected
            seen = 0
            while seen < expected:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise ConnectionError("the server closed the connection while loading")
                if chunk.startswith(b"-") or b"\n-" in chunk:
                    raise ServerReplyError(chunk[:200].decode(errors="replace"))
                seen += chunk.count(b"\n")
        size = call(sock, "DBSIZE")
        if size != count:
            raise RuntimeError(f"loaded {count} keys but DBSIZE says {size!r}")
