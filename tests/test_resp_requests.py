"""The RESP request parsers: round trips, chunking, malformed input and limits.

Every property runs against both parsers. :class:`HiredisRequestParser` must behave exactly as
:class:`RequestParser` (the authority), whatever the bytes and however they are cut up.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterable

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from fuzz_targets import has_broken_line_end
from kvstore.protocol.inline import MAX_INLINE
from kvstore.protocol.resp import encode_request, encoded_request_size
from kvstore.protocol.resp_requests import (
    MAX_HEADER_LINE,
    Frame,
    HiredisRequestParser,
    RequestDecoder,
    RequestLimits,
    RequestParser,
    parse_length,
)

ParserFactory = Callable[[RequestLimits | None], RequestDecoder]

PARSERS: list[ParserFactory] = [RequestParser, HiredisRequestParser]
parser_ids = ["python", "hiredis"]

Outcome = tuple[list[Frame], str | None]

# Arguments drawn to stress the parsers: bytes that look like RESP markers after a CRLF (the
# hiredis fast path must notice them), digits, empty strings and the odd longer value.
_tricky_bytes = st.sampled_from(
    [
        *(b"\r\n" + marker for marker in (b"", b"+", b"~", b">", b"=", b"(", b"|", b"%")),
        *(b"*", b"$", b"-1", b"0", b"\n", b"\r", b":", b"#f", b"_"),
    ]
)
args_strategy = st.one_of(
    st.binary(max_size=20),
    st.lists(st.one_of(_tricky_bytes, st.binary(max_size=4)), max_size=6).map(b"".join),
    st.binary(min_size=100, max_size=3000),
)
frame_strategy = st.lists(args_strategy, min_size=1, max_size=8)
# Empty frames are encoded as ``*0`` and must be skipped.
frames_strategy = st.lists(st.one_of(frame_strategy, st.just([])), max_size=12)


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (any order, duplicates ignored) into non-empty chunks."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def run(parser: RequestDecoder, chunks: Iterable[bytes]) -> Outcome:
    """Feed every chunk; return the frames and the error message (None if none)."""
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(parser.feed(chunk))
        if parser.error is not None:
            break
    return frames, None if parser.error is None else parser.error.message


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


chunkings = st.lists(st.integers(min_value=0, max_value=100_000), max_size=30)


# -- well-formed streams ---------------------------------------------------------------------


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=frames_strategy)
def test_encoded_frames_parse_back(make: ParserFactory, frames: list[Frame]) -> None:
    data = b"".join(encode_request(frame) for frame in frames)
    parser = make(None)
    assert run(parser, [data]) == ([f for f in frames if f], None)
    assert parser.error is None


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=frames_strategy, cuts=chunkings)
def test_any_chunking_parses_the_same(
    make: ParserFactory, frames: list[Frame], cuts: list[int]
) -> None:
    data = b"".join(encode_request(frame) for frame in frames)
    chunks = split_at(data, [cut % (len(data) + 1) for cut in cuts])
    assert run(make(None), chunks) == ([f for f in frames if f], None)


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_frame_split_at_every_offset(make: ParserFactory) -> None:
    frames = [[b"SET", b"key", b"a\r\n+value"], [b"GET", b"key"], [b""]]
    data = b"".join(encode_request(frame) for frame in frames)
    for cut in range(1, len(data)):
        for second_cut in (cut, min(cut + 7, len(data))):
            chunks = split_at(data, [cut, second_cut])
            assert run(make(None), chunks) == (frames, None), chunks


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_partial_frame_then_its_remaining_arguments(make: ParserFactory) -> None:
    # The first chunk ends exactly after a whole argument of an unfinished frame.
    parser = make(None)
    assert parser.feed(b"*1\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n") == [[b"a"]]
    assert parser.feed(b"$1\r\nc\r\n") == [[b"b", b"c"]]
    assert parser.feed(b"*1\r\n$4\r\nPING\r\n") == [[b"PING"]]
    assert parser.error is None


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@pytest.mark.parametrize("empty", [b"*0\r\n", b"*-1\r\n"])
def test_empty_and_null_requests_are_skipped(make: ParserFactory, empty: bytes) -> None:
    data = empty + encode_request([b"PING"]) + empty + empty + encode_request([b"GET", b"k"])
    expected = ([[b"PING"], [b"GET", b"k"]], None)
    assert run(make(None), [data]) == expected
    assert run(make(None), byte_by_byte(data)) == expected


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_empty_lines_between_requests_are_skipped(make: ParserFactory) -> None:
    # As Redis reads them (empty inline requests); redis-cli --pipe ends its input with one.
    data = b"\r\n" + GOOD + b"\r\n\n" + encode_request([b"PING"]) + b"\r\n\r\n" + GOOD
    expected = ([*GOOD_FRAMES, [b"PING"], *GOOD_FRAMES], None)
    assert run(make(None), [data]) == expected
    assert run(make(None), byte_by_byte(data)) == expected
    parser = make(None)
    assert parser.feed(GOOD + b"\r") == GOOD_FRAMES  # a CR alone: is it an empty line?
    assert parser.error is None
    assert parser.pending == 1
    assert parser.feed(b"\n") == []
    assert parser.error is None
    assert parser.pending == 0


def test_the_parser_keeps_no_request_it_has_returned_or_refused() -> None:
    # A connection's parser lives as long as the connection: holding a long value it returned
    # (SET then DEL) or refused would keep that memory for nothing.
    parser = RequestParser(RequestLimits(max_query_buffer=1_000_000))
    data = encode_request([b"SET", b"k", b"v" * 200_000])
    frames: list[Frame] = []
    for start in range(0, len(data), 10_000):
        frames += parser.feed(data[start : start + 10_000])
    assert len(frames) == 1
    assert parser not in gc.get_referrers(frames[0])
    head = b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000\r\n" + b"v" * 600_000 + b"\r\n$900000\r\n"
    unfinished = [head, *[b"v" * 100_000] * 5]
    assert run(parser, unfinished) == ([], "Protocol error: query buffer limit exceeded")
    assert parser.pending == 0
    assert parser.discarded > 1_000_000  # what was thrown away, for the memory accounting
    assert not any(len(arg) == 600_000 for arg in parser._args)


def test_pending_and_boundary_report_the_partial_frame() -> None:
    parser = RequestParser()
    assert parser.at_boundary
    assert parser.feed(b"*2\r\n$3\r\nGET\r\n$3\r\nke") == []
    assert not parser.at_boundary
    assert parser.pending > 0
    assert parser.feed(b"y\r\n") == [[b"GET", b"key"]]
    assert parser.at_boundary
    assert parser.pending == 0


def test_a_long_value_in_many_chunks() -> None:
    value = bytes(range(256)) * 4096  # 1 MiB
    data = encode_request([b"SET", b"big", value])
    for make in PARSERS:
        chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
        assert run(make(None), chunks) == ([[b"SET", b"big", value]], None)


# A long argument (collected read by read) between short frames, with one long argument
# not last in its frame, so that cuts land before, inside and after each value and its CRLF.
_LONG = bytes(range(256)) * 300  # 76,800 bytes: over LARGE_ARGUMENT
_LONG_STREAM_FRAMES = [
    [b"SET", b"a", _LONG],
    [b"GET", b"a"],
    [b"MSET", b"b", _LONG[::-1], b"c", b"x"],
    [b"PING"],
]
_LONG_STREAM = b"".join(encode_request(frame) for frame in _LONG_STREAM_FRAMES)
_VALUE_EDGES = [_LONG_STREAM.index(_LONG) + len(_LONG) + delta for delta in (-1, 0, 1, 2, 3)] + [
    _LONG_STREAM.index(_LONG[::-1]) + len(_LONG) + delta for delta in (-1, 0, 1, 2)
]


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@pytest.mark.parametrize("edge", _VALUE_EDGES)
def test_long_argument_cut_around_its_crlf(make: ParserFactory, edge: int) -> None:
    chunks = split_at(_LONG_STREAM, [1000, 30_000, edge])
    assert run(make(None), chunks) == (_LONG_STREAM_FRAMES, None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(_LONG_STREAM)), max_size=12))
def test_long_arguments_any_chunking(cuts: list[int]) -> None:
    for make in PARSERS:
        parser = make(None)
        assert run(parser, split_at(_LONG_STREAM, cuts)) == (_LONG_STREAM_FRAMES, None)
        if isinstance(parser, RequestParser):
            assert parser.pending == 0
            assert parser.at_boundary


def test_long_argument_counts_toward_pending_and_the_query_buffer_limit() -> None:
    parser = RequestParser(RequestLimits(max_query_buffer=100_000))
    head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n"
    assert parser.feed(head + b"v" * 60_000) == []
    assert parser.pending == 60_000
    assert parser.error is None
    assert parser.feed(b"v" * 30_000) == []
    assert parser.pending == 90_000
    assert parser.feed(b"v" * 20_000) == []
    assert parser.error is not None
    assert parser.error.message == "Protocol error: query buffer limit exceeded"
    assert parser.feed(b"v" * 10) == []  # nothing more is parsed after the error


@given(frame=frame_strategy)
def test_encoded_request_size_is_the_encoding_length(frame: Frame) -> None:
    assert encoded_request_size(frame) == len(encode_request(frame))


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"0", 0),
        (b"7", 7),
        (b"-1", -1),
        (b"123456789012345678", 123456789012345678),
        (b"", None),
        (b"-", None),
        (b"-0", None),
        (b"01", None),
        (b"-01", None),
        (b"+1", None),
        (b" 1", None),
        (b"1 ", None),
        (b"1x", None),
        (b"1234567890123456789012", None),
    ],
)
def test_parse_length_is_canonical_decimal(raw: bytes, value: int | None) -> None:
    assert parse_length(raw) == value


# -- malformed input -------------------------------------------------------------------------

GOOD = encode_request([b"SET", b"k", b"v"]) + encode_request([b"GET", b"k"])
GOOD_FRAMES: list[Frame] = [[b"SET", b"k", b"v"], [b"GET", b"k"]]
#: Cases whose header line never ends: what follows must not hold a CRLF either.
UNTERMINATED = {"mbulk-header-too-long", "bulk-header-too-long", "inline-too-long"}


def malformed_stream(case: str) -> bytes:
    """Good frames, the bad bytes, then more bytes that must never be parsed."""
    bad = MALFORMED[case][0]
    return GOOD + bad + (b"1" * 100 if case in UNTERMINATED else GOOD)


#: Lines where a RESP request is due, and the requests Redis reads from them (its inline
#: requests, split by sdssplitargs's rules), as Redis 7.0 answers them.
INLINE: dict[str, tuple[bytes, list[Frame]]] = {
    "words": (
        b"SET k1 xyzk\r\nGET k1\r\nPING\r\n",
        [[b"SET", b"k1", b"xyzk"], [b"GET", b"k1"], [b"PING"]],
    ),
    "bare-lf": (b"get k\n", [[b"get", b"k"]]),
    "blanks": (b" \t set\t k  v \r\n", [[b"set", b"k", b"v"]]),
    "empty-lines": (b"\r\n\n \t\r\nPING\r\n", [[b"PING"]]),
    "bulk-header-as-a-word": (b"$3\r\nGET\r\n", [[b"$3"], [b"GET"]]),
    "resp3-types-as-words": (
        b"+PING\r\n:1\r\n~1\r\n#f\r\n",
        [[b"+PING"], [b":1"], [b"~1"], [b"#f"]],
    ),
    "stray-cr": (b"\rx\r\n", [[b"x"]]),
    "double-quotes": (
        b'set "a b" "\\x41\\n\\r\\t\\b\\a\\"\\q"\r\n',
        [[b"set", b"a b", b'A\n\r\t\b\x07"q']],
    ),
    "bad-hex-is-literal": (b'set k "\\xZ1"\r\n', [[b"set", b"k", b"xZ1"]]),
    "single-quotes": (b"set 'a b' 'it\\'s \\n'\r\n", [[b"set", b"a b", b"it's \\n"]]),
    "empty-quoted": (b"set k \"\" ''\r\n", [[b"set", b"k", b"", b""]]),
    "quote-inside-word": (b'set a"b c" d\r\n', [[b"set", b"ab c", b"d"]]),
    "vertical-tab-in-word": (b"set a\vb c\r\n", [[b"set", b"a\vb", b"c"]]),
    "nul-ends-the-line": (b"ping a\x00b c\r\nPING\r\n", [[b"ping", b"a"], [b"PING"]]),
}


MALFORMED: dict[str, tuple[bytes, str]] = {
    "count-not-number": (b"*abc\r\n", "Protocol error: invalid multibulk length"),
    "count-leading-zero": (b"*01\r\n$1\r\na\r\n", "Protocol error: invalid multibulk length"),
    "count-plus-sign": (b"*+1\r\n$1\r\na\r\n", "Protocol error: invalid multibulk length"),
    "count-negative-zero": (b"*-0\r\n", "Protocol error: invalid multibulk length"),
    "count-empty": (b"*\r\n", "Protocol error: invalid multibulk length"),
    "count-huge": (b"*1048577\r\n$1\r\na\r\n", "Protocol error: invalid multibulk length"),
    "count-20-digits": (b"*99999999999999999999\r\n", "Protocol error: invalid multibulk length"),
    "dollar-expected": (b"*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'"),
    "bulk-negative": (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
    "bulk-negative-5": (b"*1\r\n$-5\r\nabc\r\n", "Protocol error: invalid bulk length"),
    "bulk-negative-zero": (b"*1\r\n$-0\r\n\r\n", "Protocol error: invalid bulk length"),
    "bulk-not-number": (b"*1\r\n$x\r\n", "Protocol error: invalid bulk length"),
    "bulk-leading-zero": (b"*1\r\n$03\r\nabc\r\n", "Protocol error: invalid bulk length"),
    "bulk-too-large": (b"*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"),
    "mbulk-header-too-long": (
        b"*" + b"1" * (MAX_HEADER_LINE + 1),
        "Protocol error: too big mbulk count string",
    ),
    "bulk-header-too-long": (
        b"*1\r\n$" + b"9" * (MAX_HEADER_LINE + 1),
        "Protocol error: too big bulk count string",
    ),
    "nested-array": (b"*1\r\n*1\r\n$1\r\na\r\n", "Protocol error: expected '$', got '*'"),
    "resp3-set": (b"*1\r\n~1\r\n$1\r\na\r\n", "Protocol error: expected '$', got '~'"),
    "resp3-push": (b"*1\r\n>1\r\n$1\r\na\r\n", "Protocol error: expected '$', got '>'"),
    "simple-string": (b"*2\r\n$3\r\nGET\r\n+OK\r\n", "Protocol error: expected '$', got '+'"),
    "verbatim": (b"*1\r\n=7\r\ntxt:abc\r\n", "Protocol error: expected '$', got '='"),
    "map": (b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n", "Protocol error: expected '$', got '%'"),
    "null": (b"*1\r\n_\r\n", "Protocol error: expected '$', got '_'"),
    "double": (b"*1\r\n,1.5\r\n", "Protocol error: expected '$', got ','"),
    "boolean": (b"*1\r\n#t\r\n", "Protocol error: expected '$', got '#'"),
    "error": (b"*1\r\n-ERR x\r\n", "Protocol error: expected '$', got '-'"),
    "blob-error": (b"*1\r\n!3\r\nerr\r\n", "Protocol error: expected '$', got '!'"),
    "attribute": (b"*1\r\n|1\r\n$1\r\na\r\n$1\r\nb\r\n", "Protocol error: expected '$', got '|'"),
    "crlf-for-a-bulk": (b"*1\r\n\r\n", "Protocol error: expected '$', got '\\r'"),
    # Inline requests (a line of words where a request is due) that Redis refuses.
    "inline-unbalanced-double": (b'GET "k\r\n', "Protocol error: unbalanced quotes in request"),
    "inline-unbalanced-single": (b"GET 'k\r\n", "Protocol error: unbalanced quotes in request"),
    "inline-quote-then-word": (b'GET "k"x\r\n', "Protocol error: unbalanced quotes in request"),
    "inline-too-long": (b"GET " + b"k" * MAX_INLINE, "Protocol error: too big inline request"),
}


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@pytest.mark.parametrize("case", sorted(INLINE))
def test_inline_requests_between_resp_requests(make: ParserFactory, case: str) -> None:
    data = GOOD + INLINE[case][0] + GOOD
    expected = (GOOD_FRAMES + INLINE[case][1] + GOOD_FRAMES, None)
    assert run(make(None), [data]) == expected
    assert run(make(None), byte_by_byte(data)) == expected
    assert run(make(None), [INLINE[case][0]]) == (INLINE[case][1], None)


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_inline_line_just_under_the_limit_waits(make: ParserFactory) -> None:
    parser = make(None)
    line = b"SET k " + b"v" * (MAX_INLINE - 6)
    assert parser.feed(line) == []
    assert parser.error is None
    assert parser.feed(b"\r\n") == [[b"SET", b"k", b"v" * (MAX_INLINE - 6)]]


@pytest.mark.parametrize("case", sorted(INLINE))
@settings(max_examples=15, deadline=None)
@given(cuts=chunkings)
def test_inline_requests_any_chunking_same_for_both(case: str, cuts: list[int]) -> None:
    data = GOOD + INLINE[case][0] + GOOD
    chunks = split_at(data, [cut % (len(data) + 1) for cut in cuts])
    assert run(HiredisRequestParser(None), chunks) == run(RequestParser(None), chunks)


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input(make: ParserFactory, case: str) -> None:
    message = MALFORMED[case][1]
    data = malformed_stream(case)
    expected = (GOOD_FRAMES, message)
    assert run(make(None), [data]) == expected
    assert run(make(None), byte_by_byte(data)) == expected
    parser = make(None)
    run(parser, [data])
    assert parser.feed(GOOD) == []  # a parser in error accepts nothing more


@pytest.mark.parametrize("case", sorted(MALFORMED))
@settings(max_examples=15, deadline=None)
@given(cuts=chunkings)
def test_malformed_input_any_chunking_same_for_both(case: str, cuts: list[int]) -> None:
    data = malformed_stream(case)
    chunks = split_at(data, [cut % (len(data) + 1) for cut in cuts])
    assert run(HiredisRequestParser(None), chunks) == run(RequestParser(None), chunks)


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
@pytest.mark.parametrize("count", [b"-5", b"-2"])
def test_negative_counts_are_skipped_like_redis(make: ParserFactory, count: bytes) -> None:
    # Redis answers nothing to ``*<n>`` for any n <= 0 and goes on with the next request.
    data = GOOD + b"*" + count + b"\r\n" + GOOD
    assert run(make(None), [data]) == (GOOD_FRAMES * 2, None)
    assert run(make(None), byte_by_byte(data)) == (GOOD_FRAMES * 2, None)


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_bulk_length_limit(make: ParserFactory) -> None:
    limits = RequestLimits(max_bulk_len=10)
    at_limit = encode_request([b"SET", b"k", b"x" * 10])
    over = encode_request([b"SET", b"k", b"x" * 11])
    for chunks in ([at_limit + over], byte_by_byte(at_limit + over)):
        assert run(make(limits), chunks) == (
            [[b"SET", b"k", b"x" * 10]],
            "Protocol error: invalid bulk length",
        )


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_argument_count_limit(make: ParserFactory) -> None:
    limits = RequestLimits(max_args=3)
    at_limit = encode_request([b"SET", b"k", b"v"])
    over = encode_request([b"DEL", b"a", b"b", b"c"])
    for chunks in ([at_limit + over], byte_by_byte(at_limit + over)):
        assert run(make(limits), chunks) == (
            [[b"SET", b"k", b"v"]],
            "Protocol error: invalid multibulk length",
        )


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_query_buffer_limit(make: ParserFactory) -> None:
    limits = RequestLimits(max_query_buffer=100)
    # Complete frames never count against the limit, however many arrive at once...
    many = b"".join(encode_request([b"SET", b"k%d" % i, b"v" * 20]) for i in range(50))
    assert run(make(limits), [many]) == ([[b"SET", b"k%d" % i, b"v" * 20] for i in range(50)], None)
    # ...but a partial one held past the limit does.
    partial = GOOD + b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n" + b"v" * 200
    expected = (GOOD_FRAMES, "Protocol error: query buffer limit exceeded")
    assert run(make(limits), [partial]) == expected
    assert run(make(limits), byte_by_byte(partial)) == expected
    chunked = [partial[i : i + 30] for i in range(0, len(partial), 30)]
    assert run(make(limits), chunked) == expected


@pytest.mark.parametrize("make", PARSERS, ids=parser_ids)
def test_header_line_just_under_the_limit_waits(make: ParserFactory) -> None:
    parser = make(None)
    assert parser.feed(b"*1\r\n$" + b"1" * (MAX_HEADER_LINE - 1)) == []
    assert parser.error is None
    assert parser.feed(b"\r\n") == []
    assert parser.error is not None
    assert parser.error.message == "Protocol error: invalid bulk length"


# -- differential fuzzing --------------------------------------------------------------------

# Streams of mostly good frames with bits of junk: whatever they hold and however they are cut,
# the hiredis parser must return what the pure-Python parser returns.
_junk = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.sampled_from(
        [
            b"*-1\r\n",
            b"*0\r\n",
            b"*1\r\n",
            b"\r\n",
            b"\n",
            b"\r",
            b"*2\r\n$1\r\na\r\n",
            b"$-1\r\n",
            b"+OK\r\n",
            b":5\r\n",
            b"*1\r\n*1\r\n$1\r\na\r\n",
            b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n",
            b"_\r\n",
            b"$3\r\nabcXY",
            # hiredis reads these as bulk strings or lists of them: a big number, an
            # attribute (top level and inside a frame), a boolean, a double, a null array.
            b"*2\r\n$3\r\nGET\r\n(12\r\n",
            b"|1\r\n$1\r\na\r\n$1\r\nb\r\n",
            b"*2\r\n|1\r\n$1\r\na\r\n$1\r\nb\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"#f\r\n",
            b"*1\r\n#t\r\n",
            b"*1\r\n,1.5\r\n",
            b"*1\r\n*-1\r\n",
            b"$3\r\nGET\r\n",
        ]
    ),
)
_pieces = st.lists(
    st.one_of(frame_strategy.map(encode_request), frame_strategy.map(encode_request), _junk),
    max_size=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=_pieces, cuts=chunkings)
@example(pieces=[b"*2\r\n$1\r\na\r\n", b"$1\r\nb\r\n"], cuts=[11])
@example(pieces=[b"*1\r\n$1\r\na\r\n", b"*2\r\n$1\r\na\r\n", b"+OK\r\n"], cuts=[22])
@example(pieces=[b"*2\r\n$3\r\nGET\r\n(12\r\n"], cuts=[])
@example(pieces=[b"*1\r\n$1\r\na\r\n", b"|1\r\n$1\r\na\r\n$1\r\nb\r\n"], cuts=[])
# A RESP3 boolean after a frame: hiredis reads "false", which its reader also says for "no
# complete reply yet", so the bytes would vanish where the exact parser refuses them.
@example(pieces=[b"*1\r\n$0\r\n\r\n", b"#\x00\r\n"], cuts=[])
@example(pieces=[b"*1\r\n$1\r\na\r\n#f\r\n"], cuts=[])
def test_hiredis_parser_agrees_with_python_parser(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    chunks = split_at(data, [cut % (len(data) + 1) for cut in cuts])
    reference = run(RequestParser(None), [data])
    assert run(RequestParser(None), chunks) == reference
    assume(not has_broken_line_end(data))  # where the two may differ (fuzz_targets)
    assert run(HiredisRequestParser(None), chunks) == reference
    assert run(HiredisRequestParser(None), [data]) == reference


SMALL_LIMITS = RequestLimits(max_bulk_len=40, max_args=4, max_query_buffer=120)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=_pieces, cuts=chunkings)
def test_hiredis_parser_agrees_under_small_limits(pieces: list[bytes], cuts: list[int]) -> None:
    # Chunks both small enough for hiredis and large enough to break a limit.
    data = b"".join(pieces)
    chunks = split_at(data, [cut % (len(data) + 1) for cut in cuts])
    reference = run(RequestParser(SMALL_LIMITS), chunks)
    for frame in reference[0]:
        assert len(frame) <= SMALL_LIMITS.max_args
    assume(not has_broken_line_end(data))  # where the two may differ (fuzz_targets)
    assert run(HiredisRequestParser(SMALL_LIMITS), chunks) == reference
    for frame in reference[0]:
        assert len(frame) <= SMALL_LIMITS.max_args
        assert all(len(arg) <= SMALL_LIMITS.max_bulk_len for arg in frame)
