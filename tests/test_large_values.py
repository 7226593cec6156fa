"""Long values take copy-saving paths in the codecs and the log; they must encode and parse
exactly as short ones do."""

from __future__ import annotations

import pytest

from kvstore.persistence import records
from kvstore.protocol.resp import LARGE_BULK, encode_request
from kvstore.protocol.resp_replies import ReplyParser, encode_reply
from kvstore.protocol.resp_requests import LARGE_ARGUMENT, HiredisRequestParser, RequestParser

LONG = bytes(range(256)) * (LARGE_ARGUMENT // 256 + 3) + b"\r\n+tail"


@pytest.mark.parametrize("parser_type", [RequestParser, HiredisRequestParser])
@pytest.mark.parametrize("chunk", [1000, 65536, 100_000, 10**7])
def test_a_long_argument_arrives_intact_in_any_chunking(
    parser_type: type[RequestParser | HiredisRequestParser], chunk: int
) -> None:
    data = encode_request([b"SET", b"k", LONG]) + encode_request([b"GET", b"k"])
    parser = parser_type()
    frames = []
    for start in range(0, len(data), chunk):
        frames += parser.feed(data[start : start + chunk])
    assert frames == [[b"SET", b"k", LONG], [b"GET", b"k"]]
    assert parser.error is None


@pytest.mark.parametrize("size", [LARGE_BULK - 1, LARGE_BULK, len(LONG)])
def test_a_long_bulk_reply_reads_back(size: int) -> None:
    value = LONG[:size]
    encoded = encode_reply(value)
    assert encoded == b"$%d\r\n" % size + value + b"\r\n"
    parser = ReplyParser()
    parser.feed(encoded)
    assert parser.gets() == value


@pytest.mark.parametrize("deadline", [None, 1_700_000_000_123])
@pytest.mark.parametrize("size", [LARGE_BULK - 1, LARGE_BULK, len(LONG)])
def test_a_long_value_record_reads_back(deadline: int | None, size: int) -> None:
    value = LONG[:size]
    words = [b"SET", b"key", value] + ([] if deadline is None else [b"PXAT", b"%d" % deadline])
    assert records.encode_set(b"key", value, deadline) == encode_request(words)
    assert list(records.iter_records(records.encode_set(b"key", value, deadline))) == [words]
