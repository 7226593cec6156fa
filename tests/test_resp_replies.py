"""RESP replies: ``encode_reply`` read back by both reply parsers, in RESP2 and RESP3."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.protocol.errors import ProtocolError
from kvstore.protocol.replies import OK, Reply, ReplyError, Status
from kvstore.protocol.resp_replies import (
    INCOMPLETE,
    HiredisReplyParser,
    ReplyDecoder,
    ReplyParser,
    encode_reply,
    format_float,
)

PARSERS: list[Callable[[], ReplyDecoder]] = [ReplyParser, HiredisReplyParser]
parser_ids = ["python", "hiredis"]

# Text a status or an error can carry: no CR/LF (Status refuses them; ReplyError replaces them)
# and no lone surrogates, which cannot be encoded.
_line_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
)
_leaves: st.SearchStrategy[Reply] = st.one_of(
    st.binary(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    _line_text.map(Status),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=20).map(
        lambda text: ReplyError("ERR " + text)
    ),
)
replies: st.SearchStrategy[Reply] = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.binary(max_size=8), children, max_size=4),
    ),
    max_leaves=25,
)


def expected(reply: Reply, proto: int) -> Any:
    """What a parser returns for ``encode_reply(reply, proto)``, before normalising."""
    if isinstance(reply, Status):
        return reply.text.encode()
    if isinstance(reply, ReplyError):
        return ReplyError(reply.message)
    if isinstance(reply, list):
        return [expected(item, proto) for item in reply]
    if isinstance(reply, dict):
        if proto == 3:
            return {key: expected(value, proto) for key, value in reply.items()}
        return [expected(x, proto) for pair in reply.items() for x in pair]
    if proto == 2 and isinstance(reply, bool):
        return int(reply)
    if proto == 2 and isinstance(reply, float):
        return format_float(reply)
    return reply


def tagged(value: Any) -> Any:
    """Make equality strict: ``True == 1`` and ``nan != nan`` would hide differences."""
    if isinstance(value, list):
        return ("list", [tagged(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(tagged(key), tagged(item)) for key, item in value.items()])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    if isinstance(value, ReplyError):
        return ("error", value.message)
    return (type(value).__name__, value)


def parse_all(parser: ReplyDecoder, chunks: Iterable[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        parser.feed(chunk)
        while (reply := parser.gets()) is not INCOMPLETE:
            out.append(reply)
    return out


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@settings(max_examples=200, deadline=None)
@given(
    # A false boolean on its own reads as "incomplete" (hiredis's convention, see below).
    batch=st.lists(replies.filter(lambda r: r is not False), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_round_trip_any_chunking(
    make: Callable[[], ReplyDecoder], proto: int, batch: list[Reply], cuts: list[int]
) -> None:
    data = b"".join(encode_reply(reply, proto) for reply in batch)
    want = [tagged(expected(reply, proto)) for reply in batch]
    assert [tagged(r) for r in parse_all(make(), [data])] == want
    assert [tagged(r) for r in parse_all(make(), split_at(data, cuts))] == want


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_round_trip_byte_by_byte(make: Callable[[], ReplyDecoder]) -> None:
    reply: Reply = [b"a\r\nb", {b"k": [1, None, 2.5, True]}, OK, ReplyError("ERR bad"), []]
    for proto in (2, 3):
        data = encode_reply(reply, proto)
        chunks = [data[i : i + 1] for i in range(len(data))]
        assert [tagged(r) for r in parse_all(make(), chunks)] == [tagged(expected(reply, proto))]


@pytest.mark.parametrize(
    ("reply", "resp2", "resp3"),
    [
        (b"v", b"$1\r\nv\r\n", b"$1\r\nv\r\n"),
        (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (OK, b"+OK\r\n", b"+OK\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (-7, b":-7\r\n", b":-7\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (False, b":0\r\n", b"#f\r\n"),
        (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (ReplyError("ERR no\r\nway"), b"-ERR no  way\r\n", b"-ERR no  way\r\n"),
        ([b"a", 1], b"*2\r\n$1\r\na\r\n:1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"),
        ({b"a": 1}, b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
        ([], b"*0\r\n", b"*0\r\n"),
    ],
)
def test_encode_reply_examples(reply: Reply, resp2: bytes, resp3: bytes) -> None:
    assert encode_reply(reply) == resp2
    assert encode_reply(reply, 2) == resp2
    assert encode_reply(reply, 3) == resp3


def test_encode_reply_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        encode_reply(("a", "tuple"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, b"1"),
        (0.0, b"0"),
        (-0.0, b"-0"),
        (-3.0, b"-3"),
        (0.1, b"0.1"),
        (2.5, b"2.5"),
        (1e16, b"1e+16"),
        (1.5e300, b"1.5e+300"),
        (1e-7, b"1e-07"),
        (123456789.125, b"123456789.125"),
        (math.inf, b"inf"),
        (-math.inf, b"-inf"),
        (math.nan, b"nan"),
    ],
)
def test_format_float_examples(value: float, text: bytes) -> None:
    assert format_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_float_reads_back_the_same(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    assert not text.endswith(b".0")
    assert len(text) <= len(repr(value))


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@pytest.mark.parametrize("bad", [b"?what\r\n", b"@1\r\n", b":notanumber\r\n"])
def test_reply_parser_protocol_errors(make: Callable[[], ReplyDecoder], bad: bytes) -> None:
    parser = make()
    parser.feed(b"+OK\r\n" + bad)
    assert parser.gets() == b"OK"
    with pytest.raises(ProtocolError):
        parser.gets()


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_reply_parser_incomplete_then_complete(make: Callable[[], ReplyDecoder]) -> None:
    parser = make()
    parser.feed(b"*2\r\n$5\r\nhel")
    assert parser.gets() is INCOMPLETE
    parser.feed(b"lo\r\n")
    assert parser.gets() is INCOMPLETE
    parser.feed(b":3\r\n*-1\r\n")
    assert parser.gets() == [b"hello", 3]
    assert parser.gets() is None
    assert parser.gets() is INCOMPLETE


def test_reply_parser_buffer_limit() -> None:
    parser = ReplyParser(max_buffer=10)
    parser.feed(b"$20\r\n")
    with pytest.raises(ProtocolError):
        parser.feed(b"0123456789")


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_top_level_false_is_not_incomplete(make: Callable[[], ReplyDecoder]) -> None:
    # A RESP3 ``#f`` reply on its own is a reply, not "no complete reply yet".
    parser = make()
    parser.feed(encode_reply(False, 3) + encode_reply([False], 3))
    assert parser.gets() is False
    assert parser.gets() == [False]
    assert parser.gets() is INCOMPLETE
    parser.feed(encode_reply(False, 2))
    assert parser.gets() == 0
