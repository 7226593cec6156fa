"""The compiled build against the pure one: two builds, one behaviour.

The same request streams (well-formed, malformed, over the limits, pipelined, cut at every byte
and at random places) go to the pure-Python :class:`RequestParser` and to its compiled twin
(the same source compiled with Cython, ``kvstore._speedups``). After every read both must have
returned the same frames, hold the same error (type and message) and be in the same state,
down to each field of the parser. Skipped only where the compiled build is not built.
"""

from __future__ import annotations

import copy
import importlib
import importlib.machinery
import itertools
from collections.abc import Callable, Iterable
from functools import partial
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compiled_support import compiled_twin

# kvstore.protocol first: the compiled module imports from it.
from kvstore import build
from kvstore.protocol import resp_requests as pure
from kvstore.protocol.resp import encode_request
from kvstore.protocol.resp_requests import LARGE_ARGUMENT, RequestLimits

compiled, pytestmark = compiled_twin(pure)

#: Every field of the parser's state; the compiled class exposes them read-only.
STATE = (
    "_buffer",
    "_args",
    "_remaining",
    "_bulk_len",
    "_need",
    "_scanned",
    "_line_end",
    "_counted_frame",
    "_counted_args",
    "_counted_bytes",
    "_long_parts",
    "_long_missing",
    "_discarded",
)

SMALL = RequestLimits(max_bulk_len=64, max_args=8, max_query_buffer=256)
LIMITS = [
    RequestLimits(),
    SMALL,
    RequestLimits(max_bulk_len=16, max_args=3, max_query_buffer=64, unauthenticated=True),
    RequestLimits(max_query_buffer=3 * LARGE_ARGUMENT),
]


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a call returned, or the exception it raised (type and message)."""
    try:
        return "returned", copy.deepcopy(call())
    except Exception as exc:  # any difference counts, a crash of one build too
        return "raised", (type(exc), str(exc))


def _state(parser: Any) -> tuple[Any, ...]:
    error = parser.error
    return (
        parser.pending,
        parser.discarded,
        parser.at_boundary,
        None if error is None else (type(error), str(error)),
        # Copies: the parser goes on changing its buffer and lists in place.
        *(copy.deepcopy(getattr(parser, name)) for name in STATE),
    )


def trace(
    module: ModuleType,
    pieces: Iterable[bytes],
    limits: RequestLimits,
    switch: tuple[int, RequestLimits] | None = None,
) -> list[tuple[Any, ...]]:
    """Feed ``pieces`` one by one; after each, what came back and the parser's whole state.
    ``switch``: before the read of that index, the limits change (as after AUTH)."""
    parser = module.RequestParser(limits)
    steps: list[tuple[Any, ...]] = [_state(parser)]
    for index, piece in enumerate(pieces):
        if switch is not None and index == switch[0]:
            parser.limits = switch[1]
        steps.append((_outcome(partial(parser.feed, piece)), *_state(parser)))
    return steps


def assert_same(
    pieces: list[bytes], limits: RequestLimits, switch: tuple[int, RequestLimits] | None = None
) -> None:
    assert compiled is not None
    expected = trace(pure, pieces, limits, switch)
    got = trace(compiled, pieces, limits, switch)
    for step, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"after read {step} of {pieces!r}"


def every_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def cut(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# -- streams ---------------------------------------------------------------------------------

_args = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"", b"\r\n", b"*1\r\n", b"$-1", b"0", b"\r", b"\n", b"-"]),
    st.binary(min_size=60, max_size=80),  # around SMALL's bulk limit
)
_frames = st.lists(_args, max_size=10).map(encode_request)  # *0 (an empty request) too
#: Headers and pieces a parser must refuse, or must wait on, one way or another.
_odd = st.sampled_from(
    [
        b"*-1\r\n",
        b"*0\r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*1 \r\n",
        b"*\r\n",
        b"*-\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$-2\r\n",
        b"*1\r\n$01\r\nk\r\n",
        b"*1\r\n$1\r\nkXY",
        b"*1\r\n$1\r\nk\n\r",
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"*999999999999999999\r\n",
        b"*9999999999999999999\r\n",
        b"*1\r\n$" + b"9" * 30 + b"\r\n",
        b"*1\r\n$99999999999999999\r\n",
        b"*1\r\n$65\r\n" + b"v" * 65 + b"\r\n",
        b"*9\r\n",
        b"*1\r\n\r\n",
        b"\r\n",
        b"\n",
        b"+OK\r\n",
        b"PING\r\n",
        b"*1\r",
        b"*12",
        b"*1\r\n$4",
        b"*1\r\n$4\r",
        b"$3\r\nGET\r\n",
    ]
)
_piece = st.one_of(_frames, _frames, _odd, st.binary(max_size=16))


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    data = b"".join(draw(st.lists(_piece, max_size=8)))
    if data and draw(st.booleans()):  # one byte changed somewhere
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data


_limits = st.sampled_from(LIMITS)
_fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the properties --------------------------------------------------------------------------


@_fuzz
@given(data=streams(), limits=_limits)
@example(data=b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" * 3, limits=RequestLimits())
@example(data=b"*1\r\n$-1\r\n", limits=RequestLimits())
def test_whole_stream(data: bytes, limits: RequestLimits) -> None:
    assert_same([data], limits)


@_fuzz
@given(data=streams(), limits=_limits)
def test_cut_at_every_byte(data: bytes, limits: RequestLimits) -> None:
    assert_same(every_byte(data), limits)


@_fuzz
@given(
    data=streams(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    limits=_limits,
)
def test_cut_anywhere(data: bytes, cuts: list[int], limits: RequestLimits) -> None:
    assert_same(cut(data, cuts), limits)


@_fuzz
@given(
    data=streams(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    before=_limits,
    after=_limits,
    at=st.integers(min_value=0, max_value=6),
)
def test_limits_changing_between_reads(
    data: bytes, cuts: list[int], before: RequestLimits, after: RequestLimits, at: int
) -> None:
    assert_same(cut(data, cuts), before, switch=(at, after))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([LARGE_ARGUMENT - 1, LARGE_ARGUMENT, LARGE_ARGUMENT + 1, 150_000]),
    cuts=st.lists(st.integers(min_value=0, max_value=160_000), max_size=8),
    tail=_frames,
    limits=st.sampled_from([RequestLimits(), LIMITS[-1], SMALL]),
)
def test_long_arguments_collected_read_by_read(
    size: int, cuts: list[int], tail: bytes, limits: RequestLimits
) -> None:
    data = encode_request([b"SET", b"k", b"v" * size]) + tail
    assert_same(cut(data, cuts), limits)


def test_an_oversized_header_line() -> None:
    line = b"*" + b"1" * (pure.MAX_HEADER_LINE + 10)
    assert_same([line[:40_000], line[40_000:]], RequestLimits())
    assert_same(cut(line, range(0, len(line), 997)), RequestLimits())


@settings(max_examples=500, deadline=None)
@given(raw=st.one_of(st.binary(max_size=24), st.from_regex(rb"\A-?[0-9]{0,20}\Z")))
def test_parse_length(raw: bytes) -> None:
    assert compiled is not None
    assert _outcome(partial(compiled.parse_length, raw)) == _outcome(
        partial(pure.parse_length, raw)
    )


@pytest.mark.skipif(not build.hiredis_available(), reason="hiredis is not installed")
@_fuzz
@given(data=streams(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_hiredis_path_over_either_build(data: bytes, cuts: list[int]) -> None:
    """The hiredis path hands what it cannot take to the exact parser: compiled or pure, the
    outcome is the same."""
    assert compiled is not None
    results = []
    for module in (pure, compiled):
        parser = module.HiredisRequestParser(SMALL)
        steps = []
        for piece in cut(data, cuts):
            frames = parser.feed(piece)
            error = parser.error
            steps.append((frames, None if error is None else (type(error), str(error))))
        results.append(steps)
    assert results[0] == results[1]


def test_the_compiled_module_is_an_extension() -> None:
    assert compiled is not None
    assert compiled.__file__ is not None
    assert compiled.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert compiled.RequestParser is not pure.RequestParser
