"""RESP replies: encoding (server side) and sans-I/O parsing (client side), RESP2 and RESP3."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from kvstore.build import load_hiredis
from kvstore.protocol.errors import ProtocolError
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
from kvstore.protocol.resp import BULK_HEADERS, CRLF, LARGE_BULK
from kvstore.protocol.resp_requests import parse_length

_NIL = {2: b"$-1\r\n", 3: b"_\r\n"}
_NIL_ARRAY = {2: b"*-1\r\n", 3: b"_\r\n"}
_BOOL = {2: (b":0\r\n", b":1\r\n"), 3: (b"#f\r\n", b"#t\r\n")}
#: Encoded statuses by text (a str key hashes in C and caches its hash; Status hashes in Python).
_STATUS_CACHE: dict[str, bytes] = {}


def format_float(value: float) -> bytes:
    """Format a float as Redis does: the shortest form that reads back the same."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan"
    text = repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text.encode()


def encode_reply(reply: Reply, proto: int = 2) -> bytes:
    """Encode one reply for a connection speaking RESP ``proto`` (2 or 3)."""
    out: list[bytes] = []
    encode_into(out, reply, proto)
    return b"".join(out)


def encode_into(out: list[bytes], reply: Reply, proto: int = 2) -> int:
    """Append ``reply``, encoded for RESP ``proto`` (2 or 3), to ``out`` as pieces to be
    joined once, and say how many bytes they hold: a connection encodes the replies of one
    read into one buffer, joined and written once. (On a TypeError, for a value that is not a
    reply, the pieces appended before it stay.)"""
    # Ordered by how often each kind is returned; ``type(...) is`` keeps bool out of int.
    if type(reply) is bytes:
        size = len(reply)  # bulk_header(size), inlined: the most common reply saves a call
        head = BULK_HEADERS[size] if size < LARGE_BULK else b"$%d\r\n" % size
        out.append(head)
        out.append(reply)
        out.append(CRLF)
        return len(head) + size + 2
    if type(reply) is Status:
        piece = _STATUS_CACHE.get(reply.text)
        if piece is None:
            piece = _STATUS_CACHE[reply.text] = b"+%b\r\n" % reply.text.encode()
    elif reply is None:
        piece = _NIL[proto]
    elif type(reply) is int:
        piece = b":%d\r\n" % reply
    elif type(reply) is bool:
        piece = _BOOL[proto][reply]
    elif isinstance(reply, ReplyError):
        piece = b"-%b\r\n" % reply.message.encode("utf-8", "replace")
    elif type(reply) is list:
        return _encode_items(out, b"*%d\r\n" % len(reply), reply, proto)
    elif type(reply) is dict:
        size = len(reply)
        piece = b"%%%d\r\n" % size if proto == 3 else b"*%d\r\n" % (2 * size)
        out.append(piece)
        total = len(piece)
        for key, value in reply.items():
            total += encode_into(out, key, proto)
            total += encode_into(out, value, proto)
        return total
    elif type(reply) is float:
        text = format_float(reply)
        piece = b",%b\r\n" % text if proto == 3 else b"$%d\r\n%b\r\n" % (len(text), text)
    elif reply is NIL_ARRAY:
        piece = _NIL_ARRAY[proto]
    elif type(reply) is Verbatim:
        if proto == 3:
            piece = b"=%d\r\ntxt:%b\r\n" % (len(reply) + 4, reply)
        else:
            piece = b"$%d\r\n%b\r\n" % (len(reply), reply)
    elif type(reply) is SetReply:
        head = b"~%d\r\n" if proto == 3 else b"*%d\r\n"
        return _encode_items(out, head % len(reply), reply, proto)
    elif type(reply) is Push:
        head = b">%d\r\n" if proto == 3 else b"*%d\r\n"
        return _encode_items(out, head % len(reply), reply, proto)
    elif type(reply) is Replies:
        return _encode_items(out, b"", reply, proto)
    else:
        raise TypeError(f"cannot encode a reply of type {type(reply).__name__}")
    out.append(piece)
    return len(piece)


def _encode_items(out: list[bytes], head: bytes, items: list[Reply], proto: int) -> int:
    """An aggregate: its ``head`` (``*3\r\n``), then each of ``items``. (A loop, not a
    generator: the compiled build calls ``encode_into`` from it at C speed.)"""
    out.append(head)
    total = len(head)
    for item in items:
        total += encode_into(out, item, proto)
    return total


# ---------------------------------------------------------------------------------------------
# Client side: parsing replies.

#: What a reply parser produces: statuses become ``bytes`` and error replies become
#: :class:`ReplyError` values (not raised), as hiredis does, so both parsers agree.
Parsed = Any


class ReplyDecoder(Protocol):
    def feed(self, data: bytes) -> None: ...

    def gets(self) -> Parsed:
        """The next complete reply, or :data:`INCOMPLETE` if none is complete yet."""
        ...


class _Incomplete:
    """The type of :data:`INCOMPLETE`."""

    def __repr__(self) -> str:
        return "INCOMPLETE"


#: What ``gets()`` returns while no reply is complete. (Not ``False``, as hiredis's default:
#: that is also what a RESP3 ``#f`` boolean parses to.)
INCOMPLETE = _Incomplete()


class ReplyParser:
    """Pure-Python incremental RESP2/RESP3 reply parser with hiredis's conventions."""

    def __init__(self, max_buffer: int = 1 << 62) -> None:
        self._buffer = bytearray()
        self._pos = 0
        self._max_buffer = max_buffer

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data
        if len(self._buffer) > self._max_buffer:
            raise ProtocolError("reply too large")

    def gets(self) -> Parsed:
        result, pos = self._parse(self._pos)
        if result is not INCOMPLETE:
            self._pos = pos
        return result

    def _line(self, pos: int) -> tuple[bytes, int] | None:
        end = self._buffer.find(b"\r\n", pos)
        if end < 0:
            return None
        return bytes(self._buffer[pos:end]), end + 2

    def _parse(self, pos: int) -> tuple[Any, int]:
        buf = self._buffer
        if pos >= len(buf):
            return INCOMPLETE, pos
        marker = buf[pos]
        line = self._line(pos + 1)
        if line is None:
            return INCOMPLETE, pos
        text, pos = line
        handler = _SCALARS.get(marker)
        if handler is not None:
            return handler(text), pos
        if marker in (0x24, 0x3D):  # '$' bulk, '=' verbatim
            length = _length(text)
            if length < 0:
                return None, pos
            end = pos + length
            if end + 2 > len(buf):
                return INCOMPLETE, pos
            value = bytes(buf[pos:end])
            return (value[4:] if marker == 0x3D else value), end + 2
        if marker in (0x2A, 0x7E, 0x3E, 0x25):  # '*' array, '~' set, '>' push, '%' map
            count = _length(text)
            if count < 0:
                return None, pos
            items: list[Any] = []
            for _ in range(count * 2 if marker == 0x25 else count):
                item, pos = self._parse(pos)
                if item is INCOMPLETE:
                    return INCOMPLETE, pos
                items.append(item)
            if marker == 0x25:
                return dict(zip(items[::2], items[1::2], strict=True)), pos
            return items, pos
        raise ProtocolError(f"Protocol error, got {chr(marker)!r} as reply type byte")


def _length(text: bytes) -> int:
    """A length or a count, canonical as RESP writes them (and hiredis reads them)."""
    value = parse_length(text)
    if value is None:
        raise ProtocolError(f"invalid integer in reply: {text!r}")
    return value


def _to_int(text: bytes) -> int:
    """An integer reply's value (a big number's too: longer than a length may be)."""
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"invalid integer in reply: {text!r}") from None


def _to_float(text: bytes) -> float:
    try:
        return float(text)
    except ValueError:
        raise ProtocolError(f"invalid double in reply: {text!r}") from None


def _to_bool(text: bytes) -> bool:
    if text not in (b"t", b"f"):
        raise ProtocolError(f"invalid boolean in reply: {text!r}")
    return text == b"t"


_SCALARS: dict[int, Callable[[bytes], Any]] = {
    0x2B: lambda text: text,  # '+' status
    0x2D: lambda text: ReplyError(text.decode("utf-8", "replace")),  # '-' error
    0x3A: _to_int,  # ':' integer
    0x5F: lambda text: None,  # '_' null
    0x2C: _to_float,  # ',' double
    0x23: _to_bool,  # '#' boolean
    0x28: _to_int,  # '(' big number
}


class HiredisReplyParser:
    """The same parser on ``hiredis``."""

    def __init__(self) -> None:
        hiredis = load_hiredis()
        self._protocol_error: type[Exception] = hiredis.ProtocolError
        self._reader = hiredis.Reader(replyError=ReplyError, notEnoughData=INCOMPLETE)

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def gets(self) -> Parsed:
        try:
            return self._reader.gets()
        except self._protocol_error as exc:
            raise ProtocolError(str(exc)) from None


def make_reply_parser(*, use_hiredis: bool) -> ReplyDecoder:
    if use_hiredis:
        return HiredisReplyParser()
    return ReplyParser()
