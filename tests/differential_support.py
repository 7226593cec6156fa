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


def _is_nil(reply: Reply) -> bool:
    return reply.kind == b"_" or (reply.kind in (b"$", b"*") and reply.text == b"-1")


def scan_page(expected: Reply, actual: Reply) -> str | None:
    """A SCAN page ``[cursor, [elements]]``: cursors and page boundaries are each server's own,
    so pages are compared as sets only when both servers finished in one call (cursor 0);
    otherwise only the shape must agree (``scan_everything`` compares whole iterations)."""
    if expected.kind != b"*" or len(expected.parts) != 2:
        return exact(expected, actual)
    if actual.kind != b"*" or len(actual.parts) != 2 or not actual.parts[0].text.isdigit():
        return f"expected a SCAN page, got {actual.raw!r}"
    elements = [part.raw for part in actual.parts[1].parts]
    if len(set(elements)) != len(elements):
        return f"a key returned twice in one page: {actual.raw!r}"
    if expected.parts[0].text == actual.parts[0].text == b"0" and {
        part.raw for part in expected.parts[1].parts
    } != set(elements):
        return f"expected the elements of {expected.raw!r}, got {actual.raw!r}"
    return None


def scan_everything(connection: RespConnection, options: list[bytes]) -> Reply | set[bytes]:
    """Every key of a whole SCAN iteration with ``options`` (a set), or the error reply."""
    seen: set[bytes] = set()
    cursor = b"0"
    for _ in range(1000):
        reply = connection.call([b"SCAN", cursor, *options])
        if reply.kind != b"*":
            return reply
        cursor = reply.parts[0].text
        seen.update(part.text for part in reply.parts[1].parts)
        if cursor == b"0":
            return seen
    raise AssertionError(f"SCAN {options!r} did not finish in 1000 calls")


def one_of(keys: list[bytes]) -> Compare:
    """RANDOMKEY: nil exactly when Redis says nil; otherwise any of ``keys`` (every key a test
    creates is one of them; the state machine also checks that the key exists)."""

    def compare(expected: Reply, actual: Reply) -> str | None:
        if expected.kind == b"$" and not _is_nil(expected):
            if actual.kind != b"$" or _is_nil(actual) or actual.text not in keys:
                return f"expected one of {keys!r}, got {actual.raw!r}"
            return None
        return exact(expected, actual)

    return compare


def clock(expected: Reply, actual: Reply) -> str | None:
    """TIME: ``[seconds, microseconds]`` as decimal bulk strings, the seconds within 2 of
    Redis's (the two clocks are read a moment apart)."""
    if expected.kind != b"*":
        return exact(expected, actual)
    parts = actual.parts
    if (
        actual.kind != b"*"
        or len(parts) != 2
        or any(part.kind != b"$" or not part.text.isdigit() for part in parts)
        or int(parts[1].text) >= 1_000_000
    ):
        return f"expected [seconds, microseconds], got {actual.raw!r}"
    if abs(int(expected.parts[0].text) - int(parts[0].text)) > 2:
        return f"clock {expected.raw!r} against {actual.raw!r}"
    return None


def _info_text(reply: Reply) -> bytes:
    return reply.text[4:] if reply.kind == b"=" else reply.text  # RESP3 verbatim: "txt:"


def _info_layout(text: bytes) -> tuple[list[bytes], list[bytes]]:
    """Section titles in order, and each database's line without its avg_ttl."""
    lines = text.split(b"\r\n")
    titles = [line for line in lines if line.startswith(b"# ")]
    databases = [
        line.split(b",avg_ttl=", 1)[0]
        for line in lines
        if line.startswith(b"db") and b":keys=" in line
    ]
    return titles, databases


def info_shape(expected: Reply, actual: Reply) -> str | None:
    """INFO: the same reply type; kvstore's sections a subsequence of Redis's (kvstore has
    fewer) and none at all exactly when Redis shows none; Keyspace shown by both or neither,
    with the same key and deadline counts. Other fields describe each process, so no more."""
    if expected.kind not in (b"$", b"=") or actual.kind != expected.kind:
        return exact(expected, actual)
    (titles, databases), (ours, our_databases) = map(
        _info_layout, (_info_text(expected), _info_text(actual))
    )
    remaining = iter(titles)
    if not all(title in remaining for title in ours) or bool(titles) != bool(ours):
        return f"sections {ours!r} are not among {titles!r}"
    if (b"# Keyspace" in titles) != (b"# Keyspace" in ours) or databases != our_databases:
        return f"keyspace {our_databases!r}, expected {databases!r}"
    return None
