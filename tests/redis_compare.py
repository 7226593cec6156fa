"""Differential helpers: the same commands on a real ``redis-server`` and on kvstore, the raw
RESP2 replies compared (this module has no tests of its own; other test modules reuse it).

- :class:`RawConnection` sends a request and reads back one reply, keeping the distinctions a
  client library erases: a status (``("+", b"OK")``) is not a bulk string, an error is
  ``("-", message)``, a nil array is ``NIL_ARRAY``; integers, bulk strings (``bytes``), nil
  (``None``) and arrays (``list``) are themselves.
- :func:`normalize` makes the replies that legitimately differ comparable: order-free
  replies (KEYS) are sorted, RANDOMKEY's pick is reduced to "a key" or nil;
  :func:`readings_agree` compares two replies after it, clock readings (TTL, PTTL,
  EXPIRETIME, PEXPIRETIME) within :data:`CLOCK_TOLERANCE_MS`.
- :class:`RedisPair` drives one connection to each server; :meth:`RedisPair.check` runs one
  command on both and returns a description of any difference (``None`` if they agree).
- :func:`scan_all` runs a whole SCAN iteration and returns the set of keys seen.

Start the reference with :func:`start_reference_redis`: sixteen databases, as kvstore has.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from conftest import VARIANTS, ServerProcess, start_server
from kvstore.protocol import encode_request
from test_client_support import RedisServer, start_redis_server

Raw = Any  # a reply as RawConnection returns it (see the module docstring)
NIL_ARRAY: Final = ("*", None)

#: Milliseconds two clock readings of the same deadline may differ by: the two servers run
#: the same command a moment apart.
CLOCK_TOLERANCE_MS = 1500
_SECONDS_READINGS = {b"ttl", b"expiretime"}
_MS_READINGS = {b"pttl", b"pexpiretime"}
_UNORDERED = {b"keys"}


def start_reference_redis(workdir: Path) -> RedisServer:
    """A real redis-server with sixteen databases (its default and kvstore's), persisting
    nothing."""
    return start_redis_server(workdir, "--databases", "16")


class RawConnection:
    """A blocking RESP2 connection that returns replies in their raw shape."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def call(self, *args: bytes | str | int) -> Raw:
        self.sock.sendall(encode_request([_as_bytes(arg) for arg in args]))
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._fill()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def _reply(self) -> Raw:
        line = self._line()
        marker, text = line[:1], line[1:]
        if marker in (b"+", b"-"):
            return (marker.decode(), text)
        if marker == b":":
            return int(text)
        if marker == b"$":
            length = int(text)
            if length < 0:
                return None
            while len(self._buffer) < length + 2:
                self._fill()
            value, self._buffer = self._buffer[:length], self._buffer[length + 2 :]
            return value
        if marker == b"*":
            count = int(text)
            return NIL_ARRAY if count < 0 else [self._reply() for _ in range(count)]
        raise AssertionError(f"unexpected reply line {line!r}")


def _as_bytes(arg: bytes | str | int) -> bytes:
    if isinstance(arg, bytes):
        return arg
    return str(arg).encode()


def is_error(reply: Raw) -> bool:
    return isinstance(reply, tuple) and reply[0] == "-"


def normalize(args: Sequence[bytes | str | int], reply: Raw) -> Raw:
    """``reply`` to the command ``args`` with what may legitimately differ taken out."""
    name = _as_bytes(args[0]).lower()
    if is_error(reply):
        return reply
    if name in _UNORDERED and isinstance(reply, list):
        return sorted(reply)
    if name == b"randomkey" and isinstance(reply, bytes):
        return ("a key",)
    return reply


def readings_agree(args: Sequence[bytes | str | int], expected: Raw, actual: Raw) -> bool:
    """Whether two replies agree once normalized; clock readings within the tolerance."""
    name = _as_bytes(args[0]).lower()
    scale = 1000 if name in _SECONDS_READINGS else 1 if name in _MS_READINGS else 0
    if scale and isinstance(expected, int) and isinstance(actual, int):
        if expected < 0 or actual < 0:
            return expected == actual
        return abs(expected - actual) * scale <= CLOCK_TOLERANCE_MS
    return bool(normalize(args, expected) == normalize(args, actual))


class RedisPair:
    """One connection to the reference redis-server and one to kvstore."""

    def __init__(self, redis_port: int, kvstore_port: int) -> None:
        self.redis = RawConnection("127.0.0.1", redis_port)
        self.kvstore = RawConnection("127.0.0.1", kvstore_port)

    def close(self) -> None:
        self.redis.close()
        self.kvstore.close()

    def both(self, *args: bytes | str | int) -> tuple[Raw, Raw]:
        return self.redis.call(*args), self.kvstore.call(*args)

    def check(self, *args: bytes | str | int) -> str | None:
        """Run ``args`` on both; describe the difference, or None if the replies agree."""
        expected, actual = self.both(*args)
        if readings_agree(args, expected, actual):
            return None
        return f"{_show(args)}: redis replied {expected!r}, kvstore {actual!r}"

    def reset(self) -> None:
        for conn in (self.redis, self.kvstore):
            assert conn.call("FLUSHALL") == ("+", b"OK")


def _show(args: Sequence[bytes | str | int]) -> str:
    return " ".join(repr(arg) if isinstance(arg, bytes) else str(arg) for arg in args)


def scan_all(conn: RawConnection, *options: bytes | str | int, limit: int = 100_000) -> Raw:
    """Every key a full SCAN iteration returns (a set), or the first error reply."""
    seen: set[bytes] = set()
    cursor: bytes = b"0"
    for _ in range(limit):
        reply = conn.call("SCAN", cursor, *options)
        if is_error(reply):
            return reply
        cursor, keys = reply
        seen.update(keys)
        if cursor == b"0":
            return seen
    raise AssertionError(f"SCAN {_show(options)} did not finish in {limit} calls")


def start_kvstore_for_comparison() -> ServerProcess:
    """A kvstore server to compare with the reference (accelerators on; variant-neutral)."""
    return start_server(*VARIANTS["fast"])
