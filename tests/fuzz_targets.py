"""Fuzz targets for the codecs: each takes arbitrary bytes and checks the codec's contract.

Shared by the suite (hypothesis, a fixed number of examples: tests/test_fuzz.py) and by
``scripts/fuzz`` (atheris for hours when installed, else hypothesis with a large budget).
A target raises AssertionError, or lets an unexpected exception out, when it finds a bug.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kvstore import build
from kvstore.protocol import (
    ProtocolError,
    RequestParser,
    encode_request,
    hiredis_available,
    resp_requests,
)
from kvstore.protocol.resp import encoded_request_size
from kvstore.protocol.resp_replies import INCOMPLETE, ReplyParser, make_reply_parser
from kvstore.protocol.resp_requests import HiredisRequestParser, RequestLimits
from kvstore.protocol.text import LineParser, TextRequestError, parse_request

#: Small limits, so that fuzzing reaches every limit's branch with small inputs.
SMALL_LIMITS = RequestLimits(max_bulk_len=64, max_args=8, max_query_buffer=256)


def chunks(data: bytes, cut: int) -> list[bytes]:
    """``data`` cut into pieces of ``cut`` bytes (at least 1): how a stream may arrive."""
    step = max(cut, 1)
    return [data[i : i + step] for i in range(0, len(data), step)] or [b""]


def _run_request_parser(
    parser: RequestParser | HiredisRequestParser, pieces: list[bytes]
) -> tuple[list[list[bytes]], str | None]:
    frames: list[list[bytes]] = []
    for piece in pieces:
        got = parser.feed(piece)
        assert isinstance(got, list)
        for frame in got:
            assert isinstance(frame, list)
            assert frame, "an empty request must be skipped, not returned"
            assert all(type(arg) is bytes for arg in frame)
        frames.extend(got)
        if parser.error is not None:
            assert parser.feed(b"*1\r\n$4\r\nPING\r\n") == [], "nothing is parsed after an error"
            break
    return frames, None if parser.error is None else parser.error.message


def request_parser(data: bytes, cut: int = 7, limits: RequestLimits = SMALL_LIMITS) -> None:
    """The pure parser: however the bytes are cut, the same frames and the same error; no frame
    over the limits; frames re-encode to no more bytes than were sent."""
    whole = _run_request_parser(RequestParser(limits), [data])
    pieces = _run_request_parser(RequestParser(limits), chunks(data, cut))
    if whole[1] is None and pieces[1] is None:
        assert whole == pieces
    for frame in whole[0]:
        assert len(frame) <= limits.max_args
        assert all(len(arg) <= limits.max_bulk_len for arg in frame)
    if whole[1] is None and b"*0\r\n" not in data and b"*-" not in data:
        # As in Redis, the two bytes after a bulk string are skipped unread: compare sizes (an
        # inline request, a line of words, takes at least its words and a separator after each).
        least = sum(sum(map(len, frame)) + len(frame) for frame in whole[0])
        assert least <= len(data)


def has_broken_line_end(data: bytes) -> bool:
    """Whether a bulk string in ``data`` is followed by two bytes other than CRLF. Both parsers
    skip those bytes unread, as Redis does; after them hiredis may read a header that the exact
    parser refuses (see _SUSPECT in resp_requests), so there the two may differ."""
    pos = 0
    while (start := data.find(b"$", pos)) >= 0:
        end = data.find(b"\r\n", start)
        if end < 0:
            return False
        length = data[start + 1 : end]
        if length.isdigit():
            after = end + 2 + int(length)
            if data[after : after + 2] not in (b"\r\n", b"\r", b""):
                return True
        pos = start + 1
    return False


def hiredis_request_parser(data: bytes, cut: int = 7, limits: RequestLimits = SMALL_LIMITS) -> None:
    """The hiredis path agrees with the pure parser on frames and errors, whole or in pieces
    (but for a garbled line end after a bulk string: then each must just keep its contract)."""
    if not hiredis_available():
        return
    comparable = not has_broken_line_end(data)
    for pieces in ([data], chunks(data, cut)):
        # Fed the same pieces: how the bytes arrive decides whether a line still without its
        # end has outgrown the query buffer.
        expected = _run_request_parser(RequestParser(limits), pieces)
        got = _run_request_parser(HiredisRequestParser(limits), pieces)
        if not comparable:
            continue  # _run_request_parser has checked every frame's shape
        if expected[1] is None:
            assert got == expected
        else:
            assert got[1] == expected[1]
            assert got[0] == expected[0][: len(got[0])]
    for frame in expected[0]:
        assert encoded_request_size(frame) == len(encode_request(frame))


def _compiled_requests() -> ModuleType | None:
    try:
        return importlib.import_module(build.TWINS[resp_requests.__name__])
    except ImportError:
        return None


def compiled_request_parser(
    data: bytes, cut: int = 7, limits: RequestLimits = SMALL_LIMITS
) -> None:
    """The compiled parser against the pure one (tests/test_compiled_differential.py's
    contract, for as long as asked): the same frames and the same error, whole and in pieces.
    Nothing to compare where the compiled build is not built."""
    twin = _compiled_requests()
    if twin is None:
        return
    for pieces in ([data], chunks(data, cut)):
        expected = _run_request_parser(resp_requests.RequestParser(limits), pieces)
        assert _run_request_parser(twin.RequestParser(limits), pieces) == expected


def reply_parser(data: bytes, cut: int = 7) -> None:
    """The reply parser yields replies or INCOMPLETE and refuses bad input only with
    ProtocolError, whatever the cuts; so does the hiredis reader, when installed."""
    whole = _parse_replies(ReplyParser(), [data])
    pieces = _parse_replies(ReplyParser(), chunks(data, cut))
    if whole is not None and pieces is not None:
        assert len(whole) == len(pieces)
    if hiredis_available():
        # Where both read the stream (hiredis refuses a bad type byte before its line ends;
        # the pure parser waits for the line), they read the same replies.
        fast = _parse_replies(make_reply_parser(use_hiredis=True), chunks(data, cut))
        if fast is not None and whole is not None:
            assert fast == whole


def _parse_replies(parser: object, pieces: list[bytes]) -> list[object] | None:
    replies: list[object] = []
    try:
        for piece in pieces:
            parser.feed(piece)  # type: ignore[attr-defined]
            while True:
                reply = parser.gets()  # type: ignore[attr-defined]
                if reply is INCOMPLETE:
                    break
                replies.append(reply)
                if len(replies) > 10_000:
                    return replies
    except ProtocolError:
        return None
    return replies


def line_parser(data: bytes, cut: int = 7) -> None:
    """Lines come out as sent (whatever the cuts), none longer than the limit; every line
    becomes a request or a TextRequestError, nothing else."""
    parser = LineParser(max_line=128)
    lines = []
    for piece in chunks(data, cut):
        lines.extend(parser.feed(piece))
        if parser.error is not None:
            break
    rebuilt = b"".join(line.text + (b"\r\n" if line.crlf else b"\n") for line in lines)
    assert data.startswith(rebuilt)
    for line in lines:
        assert len(line.text) <= 128
        assert not line.text.endswith(b"\n")
        try:
            request = parse_request(line.text)
        except TextRequestError:
            continue
        assert request.args
        assert all(type(arg) is bytes and arg for arg in request.args)


TARGETS = {
    "request": request_parser,
    "request-hiredis": hiredis_request_parser,
    "request-compiled": compiled_request_parser,
    "reply": reply_parser,
    "line": line_parser,
}
