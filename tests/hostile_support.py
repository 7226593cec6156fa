"""Helpers for the hostile-input tests: well-behaved clients that keep working (and checking)
while others misbehave, and a sender that keeps writing junk until the server cuts it off."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from conftest import ServerProcess, read_exactly
from kvstore.protocol import encode_request


@dataclass
class Bystanders:
    """``count`` clients on their own threads, each writing its own keys and reading every one
    back, until stopped; then every key each of them was told OK for is read back again."""

    server: ServerProcess
    count: int = 100
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _written: list[dict[bytes, bytes]] = field(default_factory=list)
    _rounds: list[int] = field(default_factory=list)

    def start(self) -> None:
        for index in range(self.count):
            self._written.append({})
            self._rounds.append(0)
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, index: int) -> None:
        prefix = f"bystander-{uuid.uuid4().hex[:8]}-{index}-".encode()
        written = self._written[index]
        try:
            with self.server.connect() as sock:
                n = 0
                while not self._stop.is_set():
                    key, value = prefix + b"%d" % (n % 100), b"v%d-" % n + prefix
                    sock.sendall(
                        encode_request([b"SET", key, value]) + encode_request([b"GET", key])
                    )
                    expected = b"+OK\r\n$%d\r\n%b\r\n" % (len(value), value)
                    got = read_exactly(sock, len(expected))
                    if got != expected:
                        self.failures.append(f"{key!r}: {got!r}")
                        return
                    written[key] = value
                    n += 1
                    self._rounds[index] = n
        except (OSError, AssertionError) as exc:
            self.failures.append(f"client {index}: {exc!r}")

    def wait_busy(self, rounds: int = 3, timeout: float = 60.0) -> None:
        """Wait until every client has completed ``rounds`` round trips."""
        deadline = time.monotonic() + timeout
        while min(self._rounds) < rounds and not self.failures:
            assert time.monotonic() < deadline, "well-behaved clients made no progress"
            time.sleep(0.01)

    def stop_and_verify(self) -> int:
        """Stop the clients, then read back every key any of them wrote; return the count."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not self.failures, self.failures[:5]
        everything = {key: value for written in self._written for key, value in written.items()}
        with self.server.connect() as sock:
            keys = list(everything)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                sock.sendall(b"".join(encode_request([b"GET", key]) for key in chunk))
                expected = b"".join(
                    b"$%d\r\n%b\r\n" % (len(everything[k]), everything[k]) for k in chunk
                )
                assert read_exactly(sock, len(expected)) == expected
        return len(everything)


def send_until_closed(
    server: ServerProcess, first: bytes, junk: bytes, limit: int = 64 * 1024 * 1024
) -> bytes:
    """Send ``first``, then ``junk`` over and over (at most ``limit`` bytes) while another thread
    reads; return what the server answered before closing. Fails if it never closes."""
    sock = server.connect()
    received: list[bytes] = []
    closed = threading.Event()

    def reader() -> None:
        sock.settimeout(30)
        with contextlib.suppress(OSError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received.append(chunk)
        closed.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    sent = 0
    with contextlib.suppress(OSError):
        sock.sendall(first)
        while sent < limit and not closed.is_set():
            sock.sendall(junk)
            sent += len(junk)
    assert closed.wait(30), "the server did not close the connection"
    sock.close()
    return b"".join(received)


def exchange(sock: socket.socket, data: bytes, expected: bytes) -> None:
    sock.sendall(data)
    assert read_exactly(sock, len(expected)) == expected
