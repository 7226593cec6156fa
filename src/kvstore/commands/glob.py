"""Glob patterns as Redis matches keys against them (KEYS, SCAN MATCH).

The rules are those of Redis's ``stringmatchlen``, quirks included:

- ``*`` any run of bytes, ``?`` one byte, ``\\x`` the byte ``x`` itself;
- ``[abc]`` one of a set, ``[^abc]`` one byte not in it, ``[a-z]`` a range (a reversed range
  is swapped; bytes compare as C's signed ``char``, so ``\\x80``-``\\xff`` sort below ``\\x00``),
  ``\\x`` inside a set is ``x`` itself, an unclosed ``[`` runs to the pattern's end, ``[]``
  matches nothing and ``[^]`` any byte;
- the empty key matches only the empty pattern (KEYS and SCAN skip matching for the pattern
  ``*``, which is how they still return it).

A pattern is parsed once into one-byte elements and star runs. The elements between stars form
fixed-width segments, each compiled to a regular expression. Matching anchors the first
segment at the start and the last at the end, and places every middle segment at its leftmost
occurrence: since each element matches exactly one byte, leftmost placement never loses a
match (the argument behind Redis's ``skipLongerMatches``). So a match costs at most
O(len(key) * len(pattern)), with no exponential backtracking on patterns like ``*a*a*a*b``,
and the scanning runs inside ``re``.
"""

from __future__ import annotations

import functools
import re

_STAR, _QUESTION, _OPEN, _CLOSE, _CARET, _DASH, _BACKSLASH = b"*?[]^-\\"
_ANY = b"."  # compiled with DOTALL: any byte
_NOTHING = b"(?!)"
_ALL_BYTES = frozenset(range(256))


def _signed(byte: int) -> int:
    """The byte as C's (signed) ``char`` compares it."""
    return byte - 256 if byte >= 128 else byte


def _byte(byte: int) -> bytes:
    return b"\\x%02x" % byte


@functools.lru_cache(maxsize=1024)  # a long pattern tends to repeat the same few sets
def _byte_class(members: frozenset[int], negate: bool) -> bytes:
    """A regular expression for one byte in ``members`` (or not in it, if ``negate``)."""
    chosen = sorted(_ALL_BYTES - members if negate else members)
    if not chosen:
        return _NOTHING
    parts: list[bytes] = []
    start = prev = chosen[0]
    for byte in [*chosen[1:], -1]:
        if byte != prev + 1:
            parts.append(_byte(start) if start == prev else _byte(start) + b"-" + _byte(prev))
            start = byte
        prev = byte
    return b"[" + b"".join(parts) + b"]"


def _parse_set(pattern: bytes, end: int, i: int) -> tuple[bytes, int]:
    """The set that opens at ``pattern[i] == '['``: its regex and the index of its last byte.

    ``pattern`` carries a NUL past ``end``, as C's string does: the loop reads it there.
    """
    i += 1
    negate = pattern[i] == _CARET
    if negate:
        i += 1
    members: set[int] = set()
    while True:
        left = end - i
        if pattern[i] == _BACKSLASH and left >= 2:
            i += 1
            members.add(pattern[i])
        elif pattern[i] == _CLOSE:
            break
        elif left == 0:
            i -= 1
            break
        elif left >= 3 and pattern[i + 1] == _DASH:
            low, high = sorted((_signed(pattern[i]), _signed(pattern[i + 2])))
            members.update(value & 0xFF for value in range(low, high + 1))
            i += 2
        else:
            members.add(pattern[i])
        i += 1
    return _byte_class(frozenset(members), negate), i


def _parse(pattern: bytes) -> list[bytes | None]:
    """The pattern's elements: a regex for one byte each, ``None`` for a run of stars."""
    end = len(pattern)
    text = pattern + b"\0"
    elements: list[bytes | None] = []
    i = 0
    while i < end:
        byte = text[i]
        if byte == _STAR:
            while text[i + 1] == _STAR:
                i += 1
            elements.append(None)
        elif byte == _QUESTION:
            elements.append(_ANY)
        elif byte == _OPEN:
            element, i = _parse_set(text, end, i)
            elements.append(element)
        else:
            if byte == _BACKSLASH and end - i >= 2:
                i += 1
            elements.append(re.escape(text[i : i + 1]))
        i += 1
    return elements


Segment = tuple["re.Pattern[bytes]", int]  # a fixed-width regex and its width


def _segment(elements: list[bytes]) -> Segment:
    return re.compile(b"".join(elements), re.DOTALL), len(elements)


class Glob:
    """A compiled pattern; :meth:`matches` tells whether a key matches it."""

    __slots__ = ("_first", "_last", "_middle", "_starred", "pattern")

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        segments: list[list[bytes]] = [[]]
        for element in _parse(pattern):
            if element is None:
                segments.append([])
            else:
                segments[-1].append(element)
        self._starred = len(segments) > 1
        self._first = _segment(segments[0])
        self._last = _segment(segments[-1])
        self._middle = [_segment(segment) for segment in segments[1:-1] if segment]

    def matches(self, key: bytes) -> bool:
        if not key:
            return not self.pattern
        first, first_width = self._first
        if not self._starred:
            return first.fullmatch(key) is not None
        last, last_width = self._last
        end = len(key) - last_width
        if end < first_width:
            return False
        if first_width and first.match(key) is None:
            return False
        if last_width and last.match(key, end) is None:
            return False
        pos = first_width
        for regex, _ in self._middle:
            found = regex.search(key, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True


_cached_glob = functools.lru_cache(maxsize=128)(Glob)


def compile_glob(pattern: bytes) -> Glob:
    """The compiled pattern; short patterns are cached, as SCAN repeats its MATCH every call."""
    return _cached_glob(pattern) if len(pattern) <= 512 else Glob(pattern)


def glob_matches(pattern: bytes, key: bytes) -> bool:
    return compile_glob(pattern).matches(key)
