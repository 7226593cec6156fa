"""A network fuzzer: random and mutated frames sent to a live server over loopback, while a
well-behaved client writes and deletes keys; afterwards the server must still answer, and hold
exactly the keys the well-behaved client was told it holds.

Bounded: every frame is at most a few KiB, every fuzz connection half-closes after sending (so
the server sees the end of an unfinished frame), and the caller sets the number of rounds.
The fuzz frames carry only read-only commands and junk: nothing they send can write a key.
"""

from __future__ import annotations

import contextlib
import random
import socket

from kvstore.protocol import encode_request

READ_ONLY = [
    [b"PING"],
    [b"GET", b"ack:1"],
    [b"EXISTS", b"ack:1", b"ack:2"],
    [b"ECHO", b"hello"],
    [b"DBSIZE"],
    [b"HELLO", b"3"],
    [b"CLIENT", b"INFO"],
]
JUNK_BYTES = b"*$:+-~>%_#,(=!\r\n\x00\xff0123456789 "


def fuzz_frame(rng: random.Random) -> bytes:
    """Random bytes, or read-only requests (RESP or text) with bytes flipped, cut or spliced."""
    kind = rng.random()
    if kind < 0.2:
        return rng.randbytes(rng.randint(0, 512))
    if kind < 0.3:
        return bytes(rng.choice(JUNK_BYTES) for _ in range(rng.randint(1, 256)))
    if kind < 0.5:
        data = bytearray(b"get ack:1\r\nping\r\nexists ack:2\n" * rng.randint(1, 3))
    else:
        data = bytearray(
            b"".join(encode_request(rng.choice(READ_ONLY)) for _ in range(rng.randint(1, 5)))
        )
    for _ in range(rng.randint(0, 6)):
        at = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.4 and at < len(data):
            data[at] = rng.choice(JUNK_BYTES)
        elif action < 0.6:
            del data[at : at + rng.randint(1, 8)]
        elif action < 0.8:
            data[at:at] = bytes(rng.choice(JUNK_BYTES) for _ in range(rng.randint(1, 8)))
        else:
            data = data[:at]
    return bytes(data[:4096])


def send_fuzz(address: tuple[str, int], data: bytes, timeout: float = 30.0) -> bytes:
    """Send one fuzz frame on a new connection, half-close, read until the server closes."""
    received = b""
    with socket.create_connection(address, timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    return received


class Acknowledged:
    """The well-behaved client: what it was told the server holds."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=30)
        self.keys: dict[bytes, bytes] = {}
        self._buffer = b""
        # The client owns the table: whatever an earlier run left is gone.
        self.sock.sendall(encode_request([b"FLUSHALL"]))
        assert self._line() == b"+OK"

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the well-behaved client"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def step(self, rng: random.Random) -> None:
        key = b"ack:%d" % rng.randint(0, 50)
        if rng.random() < 0.7:
            value = rng.randbytes(rng.randint(0, 64))
            self.sock.sendall(encode_request([b"SET", key, value]))
            assert self._line() == b"+OK"
            self.keys[key] = value
        else:
            self.sock.sendall(encode_request([b"DEL", key]))
            assert self._line() == (b":1" if key in self.keys else b":0")
            self.keys.pop(key, None)

    def verify(self) -> None:
        """The server answers, holds exactly these keys, with these values."""
        self.sock.sendall(encode_request([b"PING"]) + encode_request([b"DBSIZE"]))
        assert self._line() == b"+PONG"
        assert self._line() == b":%d" % len(self.keys)
        for key, value in self.keys.items():
            self.sock.sendall(encode_request([b"GET", key]))
            assert self._line() == b"$%d" % len(value)
            while len(self._buffer) < len(value) + 2:
                self._buffer += self.sock.recv(65536)
            assert self._buffer[: len(value) + 2] == value + b"\r\n"
            self._buffer = self._buffer[len(value) + 2 :]

    def close(self) -> None:
        self.sock.close()


def run(address: tuple[str, int], rounds: int, seed: int) -> None:
    """``rounds`` fuzz connections, the well-behaved client acting between them."""
    rng = random.Random(seed)
    good = Acknowledged(address)
    try:
        for round_number in range(rounds):
            good.step(rng)
            send_fuzz(address, fuzz_frame(rng))
            if round_number % 50 == 49:
                good.verify()
        good.verify()
    finally:
        good.close()
