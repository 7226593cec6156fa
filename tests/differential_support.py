"""Wire helpers for the differential test: raw RESP replies and the ways two are compared.

A reply is read off the socket as its exact bytes plus a tree of its parts, so the default
comparison is byte for byte (errors included) and the other comparisons (a tolerance for
times, sets for unordered output) can look inside.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from kvstore.protocol import encode_request

#: RESP3 aggregate types and how many child replies each element counts for.
_AGGREGATES = {b"*": 1, b"~": 1, b">": 1, b"%": 2, b"|": 2}
_BLOBS = (b"$", b"!", b"=")


@dataclass
class Reply:
    """One reply: its type byte, its exact bytes, its header or line text, and its parts."""

    kind: bytes
    raw: bytes
    text: bytes
    parts: list[Reply] = field(default_factory=list)


class RespConnection:
    """A RESP connection that sends argument lists and reads replies as exact bytes."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def call(self, args: list[bytes]) -> Reply:
        self.sock.sendall(encode_request(args))
        return self.read_reply()

    def read_reply(self) -> Reply:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise AssertionError(f"connection closed or bad reply line: {line!r}")
        kind, text = line[:1], line[1:-2]
        if kind in _BLOBS:
            size = int(text)
            if size < 0:
                return Reply(kind, line, text)
            body = self.reader.read(size + 2)
            return Reply(kind, line + body, body[:-2])
        if kind in _AGGREGATES:
            count = int(text)
            parts = [self.read_reply() for _ in range(max(count, 0) * _AGGREGATES[kind])]
            return Reply(kind, line + b"".join(part.raw for part in parts), text, parts)
        return Reply(kind, line, text)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


#: A comparison of Redis's reply (first) with kvstore's; returns why they differ, or None.
Compare = Callable[[Reply, Reply], "str | None"]


def exact(expected: Reply, actual: Reply) -> str | None:
    """The same bytes: the default, errors included."""
    if expected.raw == actual.raw:
        return None
    return f"expected {expected.raw!r}, got {actual.raw!r}"


def within(tolerance: int) -> Compare:
    """Integer replies that may differ by ``tolerance`` (TTL in s, PTTL in ms: time passes
    between the two requests); anything else (negative codes, errors) must be exact."""

    def compare(expected: Reply, actual: Reply) -> str | None:
        if expected.kind == actual.kind == b":":
            left, right = int(expected.text), int(actual.text)
            if (left < 0 or right < 0) and left != right:
                return f"expected {left}, got {right}"
            if abs(left - right) > tolerance:
                return f"expected {left} within {tolerance}, got {right}"
            return None
        return exact(expected, actual)

    return compare


def unordered(expected: Reply, actual: Reply) -> str | None:
    """An array whose order means nothing (KEYS): the same elements, counted."""
    if expected.kind != actual.kind or (not expected.parts and not actual.parts):
        return exact(expected, actual)
    if Counter(part.raw for part in expected.parts) != Counter(part.raw for part in actual.parts):
        return f"expected the elements of {expected.raw!r}, got {actual.raw!r}"
    return None


def scan_page(expected: Reply, actual: Reply) -> str | None:
    """A SCAN page ``[cursor, [elements]]``: cursors are each server's own, so only whether
    the scan is over (cursor 0) must agree; the elements are compared as a set."""
    if expected.kind != b"*" or actual.kind != b"*" or len(expected.parts) != 2:
        return exact(expected, actual)
    if len(actual.parts) != 2:
        return f"expected a SCAN page, got {actual.raw!r}"
    if (expected.parts[0].text == b"0") != (actual.parts[0].text == b"0"):
        return f"cursor {expected.parts[0].text!r} against {actual.parts[0].text!r}"
    if {part.raw for part in expected.parts[1].parts} != {
        part.raw for part in actual.parts[1].parts
    }:
        return f"expected the elements of {expected.raw!r}, got {actual.raw!r}"
    return None
