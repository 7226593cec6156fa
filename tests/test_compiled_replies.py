"""The compiled reply encoder against the pure one: two builds, the same bytes.

The same generated reply trees (every kind a handler returns: bulk strings, statuses, errors,
integers at and past the 64-bit limits, floats with infinities and NaN, booleans, nil, the nil
array, verbatim text, sets, pushes, several replies for one request, arrays and maps nested in
each other) are encoded by the pure
``encode_reply`` and by its compiled twin (the same source compiled with Cython,
``kvstore._speedups``), in RESP2 and RESP3. Both must return the same bytes, or raise the same
exception with the same message; ``encode_into`` likewise must append the same pieces to a
buffer that holds replies already and return their size (and leave the same pieces behind
when it raises), several replies in a row into one buffer as a connection's read does.
Skipped only where the compiled build is not built.
"""

from __future__ import annotations

import importlib
import importlib.machinery
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compiled_support import compiled_twin
from kvstore import build, protocol
from kvstore.protocol import resp_replies as pure
from kvstore.protocol.replies import (
    NIL_ARRAY,
    Push,
    Replies,
    Reply,
    ReplyError,
    SetReply,
    Status,
    Verbatim,
)
from kvstore.protocol.resp import LARGE_BULK

compiled, pytestmark = compiled_twin(pure)

_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
_line = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
)
_leaves: st.SearchStrategy[Any] = st.one_of(
    st.binary(max_size=40),
    # Around the short-header table's end (LARGE_BULK) and far past it.
    st.integers(min_value=LARGE_BULK - 3, max_value=LARGE_BULK + 3).map(lambda size: b"x" * size),
    st.binary(min_size=2000, max_size=2100),
    st.integers(),  # past 64 bits too: Python's ints have no limit, nor has the encoder
    st.sampled_from([0, -1, 2**63 - 1, -(2**63), 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, 5e-324, 1.0, 2.5]),
    st.booleans(),
    st.none(),
    st.just(NIL_ARRAY),
    _line.map(Status),
    _text.map(lambda text: ReplyError("ERR " + text)),
    _text.map(ReplyError),
    st.binary(max_size=30).map(Verbatim),
)
#: Values a handler never returns: both builds must refuse them alike.
_strays = st.one_of(
    st.tuples(st.binary(max_size=4)),
    st.text(max_size=4),
    st.just(bytearray(b"ab")),
    st.just(memoryview(b"ab")),
    st.sets(st.integers(), max_size=2),
)
replies: st.SearchStrategy[Any] = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(SetReply),
        st.lists(children, max_size=5).map(Push),
        st.lists(children, max_size=3).map(Replies),
        st.dictionaries(st.binary(max_size=8), children, max_size=4),
        # Keys of other kinds too (statuses, integers): a map's keys are replies as well.
        st.dictionaries(st.one_of(st.integers(), _line.map(Status)), children, max_size=3),
    ),
    max_leaves=30,
)
_fuzz = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a call returned, or the exception it raised (type and message)."""
    try:
        return "returned", call()
    except Exception as exc:  # any difference counts, a crash of one build too
        return "raised", (type(exc), str(exc))


def _appended(module: Any, replies: list[Any], proto: Any) -> tuple[bytes, list[tuple[str, Any]]]:
    """What ``encode_into`` left in a buffer holding a reply already, after ``replies`` one
    after the other (up to a refusal), and how each call ended (the sizes it returned)."""
    out = [b"+earlier\r\n"]
    outcomes: list[tuple[str, Any]] = []
    for reply in replies:

        def call(reply: Any = reply) -> Any:
            return module.encode_into(out, reply, proto)

        outcomes.append(_outcome(call))
        if outcomes[-1][0] == "raised":
            break
    return b"".join(out), outcomes


def assert_same(reply: Any, proto: Any) -> None:
    assert compiled is not None
    want = _outcome(lambda: pure.encode_reply(reply, proto))
    have = _outcome(lambda: compiled.encode_reply(reply, proto))
    assert have == want, f"{reply!r} in RESP{proto}"
    appended = _appended(pure, [reply], proto)
    assert _appended(compiled, [reply], proto) == appended, f"{reply!r} in RESP{proto}"
    if want[0] == "returned":  # encode_reply's bytes after the buffer's own, and their size
        assert appended == (b"+earlier\r\n" + want[1], [("returned", len(want[1]))])


@_fuzz
@given(reply=replies, proto=st.sampled_from([2, 3]))
@example(reply=[Status("OK"), Status("OK"), Status("QUEUED")], proto=2)  # the status cache
@example(reply={b"k": [1.5, True, None, NIL_ARRAY]}, proto=3)
def test_same_bytes(reply: Reply, proto: int) -> None:
    assert_same(reply, proto)


@_fuzz
@given(batch=st.lists(replies, max_size=6), proto=st.sampled_from([2, 3]))
def test_one_buffer_for_several_replies(batch: list[Reply], proto: int) -> None:
    """A read's replies appended to one buffer: both builds, the replies' bytes in order."""
    assert compiled is not None
    appended = _appended(pure, batch, proto)
    assert _appended(compiled, batch, proto) == appended
    encoded = [pure.encode_reply(reply, proto) for reply in batch]
    sizes = [("returned", len(each)) for each in encoded]
    assert appended == (b"+earlier\r\n" + b"".join(encoded), sizes)


@_fuzz
@given(
    reply=st.recursive(
        st.one_of(_leaves, _strays), lambda children: st.lists(children, max_size=4), max_leaves=8
    ),
    proto=st.sampled_from([2, 3]),
)
def test_same_refusals(reply: Any, proto: int) -> None:
    """Something that is not a reply, alone or deep in an aggregate: the same TypeError."""
    assert_same(reply, proto)


@pytest.mark.parametrize("proto", [1, 4, "3", None])
@pytest.mark.parametrize("reply", [None, True, NIL_ARRAY, b"x", 7, [None]])
def test_same_for_a_protocol_that_is_neither(reply: Reply, proto: Any) -> None:
    """A protocol other than 2 or 3 (never set by HELLO): both builds do the same with it."""
    assert_same(reply, proto)


def test_default_protocol_is_resp2() -> None:
    assert compiled is not None
    samples: list[Reply] = [None, True, {b"a": 1}, SetReply([1]), 2.5, Verbatim(b"v")]
    for reply in samples:
        assert (
            compiled.encode_reply(reply) == pure.encode_reply(reply) == pure.encode_reply(reply, 2)
        )


@_fuzz
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_format_float(value: float) -> None:
    assert compiled is not None
    assert compiled.format_float(value) == pure.format_float(value)


def test_the_build_in_use_encodes_with_its_twin() -> None:
    assert compiled is not None
    assert compiled.__file__ is not None
    assert compiled.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert compiled.encode_reply is not pure.encode_reply
    expected = compiled if build.COMPILED else pure
    assert protocol.encode_reply is expected.encode_reply
    assert protocol.encode_into is expected.encode_into
