"""Sans-I/O parsers for RESP requests: arrays of bulk strings, client to server.

Two parsers with one behaviour. :class:`RequestParser` is pure Python and is the authority on
every rule and limit. :class:`HiredisRequestParser` hands chunks made only of complete,
well-formed frames to ``hiredis`` (about ten times faster) and passes anything else (a partial
frame, a malformed one, a chunk big enough to break a limit) to a :class:`RequestParser`, so
its errors, limits and messages are those of the pure-Python parser by construction.

Both ``feed`` bytes and get back the list of complete frames. On a protocol error they return
the frames that came before the bad one and set ``error``; the caller answers those, sends the
error and closes the connection.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Protocol

from kvstore.build import load_hiredis
from kvstore.protocol.errors import ProtocolError
from kvstore.protocol.inline import MAX_INLINE, split_inline_args
from kvstore.protocol.resp import encoded_request_size

Frame = list[bytes]

#: The longest header line (``*<count>`` or ``$<length>``) accepted, as Redis's
#: PROTO_INLINE_MAX_SIZE.
MAX_HEADER_LINE = 64 * 1024
#: Arguments at least this long are copied out of the buffer through a memoryview, and one
#: that arrives over several reads is collected read by read and joined once.
LARGE_ARGUMENT = 64 * 1024


@dataclass(frozen=True)
class RequestLimits:
    """Size limits enforced while parsing, before any memory is committed to a frame."""

    max_bulk_len: int = 512 * 1024 * 1024
    max_args: int = 1024 * 1024
    max_query_buffer: int = 1024 * 1024 * 1024
    #: Names the limits in the error ("unauthenticated bulk length"): the small limits a
    #: client lives under until it authenticates.
    unauthenticated: bool = False


#: Before a client authenticates (when a password is set): a handful of short arguments is all
#: AUTH and HELLO need, so nobody can make the server buffer much without the password.
UNAUTHENTICATED_LIMITS = RequestLimits(
    max_bulk_len=16 * 1024, max_args=10, max_query_buffer=64 * 1024, unauthenticated=True
)


class RequestDecoder(Protocol):
    """What the server needs from a request parser."""

    error: ProtocolError | None
    limits: RequestLimits

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        ...

    @property
    def discarded(self) -> int: ...

    def feed(self, data: bytes) -> list[Frame]: ...


def shown_byte(byte: int) -> str:
    """A byte as an error message shows it: itself when printable, else an escape (``\\r``,
    ``\\x00``), so that a CR or LF (which Redis blanks out of an error line) stays visible."""
    if 0x20 <= byte < 0x7F:
        return chr(byte)
    return {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}.get(byte, f"\\x{byte:02x}")


#: What :func:`_length_at` returns for bytes that are not a canonical decimal (no 18-digit
#: number comes near it).
NOT_A_LENGTH = -(1 << 62)


def parse_length(raw: bytes | bytearray) -> int | None:
    """Parse a canonical decimal integer as Redis's ``string2ll`` does (and hiredis): no sign
    but ``-``, no leading zeros, no blanks, at most 18 digits. Return None if ``raw`` is not
    one. RESP's lengths and counts are read with this, in requests, replies and the log."""
    value = _length_at(raw, 0, len(raw))
    return None if value == NOT_A_LENGTH else value


def _length_at(octets: bytes | bytearray, start: int, end: int) -> int:
    """:func:`parse_length` of ``octets[start:end]``, read in place; NOT_A_LENGTH if not one.

    Byte by byte, so that the compiled build (where ``octets`` is a typed memoryview) reads it
    in C: no slice, no ``int()``."""
    sign = 1
    if start < end and octets[start] == 0x2D:  # '-'
        sign = -1
        start += 1
    digits = end - start
    if digits <= 0 or digits > 18:
        return NOT_A_LENGTH
    if octets[start] == 0x30 and (digits > 1 or sign < 0):  # "01" and "-0"
        return NOT_A_LENGTH
    value = 0
    while start < end:
        digit = octets[start] - 0x30
        if digit < 0 or digit > 9:
            return NOT_A_LENGTH
        value = value * 10 + digit
        start += 1
    return sign * value


class RequestParser:
    """Incremental pure-Python RESP request parser.

    State between calls: the unconsumed bytes, and for a frame cut short, the arguments read so
    far and how many are still due. When waiting for a long bulk string it records how many
    bytes it needs, so a large value arriving in many chunks is appended, not re-scanned.
    """

    def __init__(self, limits: RequestLimits | None = None) -> None:
        self.limits = limits or RequestLimits()
        self.error: ProtocolError | None = None
        self._buffer = bytearray()
        self._args: Frame = []
        self._remaining = 0  # arguments still due in the current frame; 0 between frames
        self._bulk_len = -1  # length of the bulk string being read; -1 before its header
        self._need = 0  # buffered bytes required before parsing can make progress
        # Bytes of an unfinished header line already searched for its CRLF (the line is kept
        # at the start of the buffer), so a line arriving byte by byte is not searched again.
        self._scanned = 0
        self._line_end = 0  # where the header line _header read ends
        # Bytes of the unfinished frame's arguments already read (see _check_query_buffer).
        self._counted_frame: Frame | None = None
        self._counted_args = 0
        self._counted_bytes = 0
        # A long argument arriving over several reads: its pieces so far, and how many bytes
        # of it and its CRLF are still due. Joining the pieces once copies the value once;
        # growing a buffer with each read and slicing the value out of it copied it three times.
        self._long_parts: list[bytes] | None = None
        self._long_missing = 0
        self._discarded = 0

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer) + self._long_collected()

    @property
    def discarded(self) -> int:
        """Bytes of an unfinished request thrown away when it passed the query buffer limit."""
        return self._discarded

    def _long_collected(self) -> int:
        """Bytes of the long argument being collected received so far (with any of its CRLF)."""
        if self._long_parts is None:
            return 0
        return self._bulk_len + 2 - self._long_missing

    @property
    def at_boundary(self) -> bool:
        """True when no partial frame is buffered."""
        return not self._buffer and self._remaining == 0

    def feed(self, data: bytes) -> list[Frame]:
        if self.error is not None:
            return []
        frames: list[Frame] = []
        if self._long_parts is not None:
            rest = self._collect_long(data)
            if rest is None or (not rest and self._remaining):
                self._check_query_buffer()
                return frames
            if not self._remaining:
                frames.append(self._args)
                self._args = []
                self._counted_frame = None
            if not rest:
                return frames
            data = rest
        if self._buffer:
            self._buffer += data
            if len(self._buffer) < self._need:
                self._check_query_buffer()
                return []
            buf: bytes | bytearray = self._buffer
        else:
            buf = data
        try:
            consumed = self._parse(buf, frames)
        except ProtocolError as exc:
            self.error = exc
            self._buffer = bytearray()
            return frames
        if buf is self._buffer:
            del self._buffer[:consumed]
        elif consumed < len(buf):
            self._buffer = bytearray(memoryview(buf)[consumed:])  # one copy, not two
        self._check_query_buffer()
        return frames

    def _check_query_buffer(self) -> None:
        # The arguments already read of an unfinished frame count too: a frame of many
        # moderate arguments must not escape the limit by never being buffered whole.
        # Counted incrementally, once per argument, off the per-argument path.
        args = self._args
        if not args:
            self._counted_bytes = 0
            self._counted_frame = None  # a completed request's arguments are not the parser's
        elif self._counted_frame is not args:
            self._counted_frame = args
            self._counted_args = self._counted_bytes = 0
        if len(args) > self._counted_args:
            self._counted_bytes += sum(map(len, args[self._counted_args :]))
            self._counted_args = len(args)
        pending = len(self._buffer) + self._long_collected()
        if pending + self._counted_bytes > self.limits.max_query_buffer:
            self.error = ProtocolError("Protocol error: query buffer limit exceeded")
            self._discarded = pending + self._counted_bytes
            self._buffer = bytearray()
            self._long_parts = None
            self._args = []
            self._counted_frame = None

    def _collect_long(self, data: bytes) -> bytes | None:
        """Add a read to the long argument being collected. Once the argument and its CRLF are
        whole, add it to the frame and return the bytes after it; None while more are due."""
        parts = self._long_parts
        assert parts is not None
        missing = self._long_missing
        value_bytes = min(len(data), missing - 2)  # a CRLF byte is no part of the value
        if len(data) < missing:
            if value_bytes > 0:
                parts.append(data if value_bytes == len(data) else data[:value_bytes])
            self._long_missing = missing - len(data)
            return None
        if value_bytes > 0:
            parts.append(data[:value_bytes])
        self._args.append(b"".join(parts))
        self._long_parts = None
        self._bulk_len = -1
        self._remaining -= 1
        return data[missing:]

    def _header(
        self, buf: bytes | bytearray, octets: bytes | bytearray, pos: int, kind: str
    ) -> int:
        """Read the header line at ``pos``; return its value and keep the position after it in
        ``_line_end``, or return NOT_A_LENGTH if the line is not complete yet. (``octets`` is
        ``buf``, typed for the compiled build.)"""
        end = -1
        if self._scanned == 0:
            # The usual line, a sign and digits then CRLF, is found in the one pass the
            # compiled build makes in C; anything else is searched for below.
            end = pos + 1
            size = len(buf)
            if end < size and octets[end] == 0x2D:  # '-'
                end += 1
            while end < size and 0x30 <= octets[end] <= 0x39:
                end += 1
            if end + 1 >= size or octets[end] != 0x0D or octets[end + 1] != 0x0A:
                end = -1
        if end < 0:
            end = buf.find(b"\r\n", pos + self._scanned)
        if end < 0:
            if len(buf) - pos > MAX_HEADER_LINE:
                raise ProtocolError(f"Protocol error: too big {kind} count string")
            self._need = len(buf) - pos + 1  # the header line is kept unconsumed
            self._scanned = max(len(buf) - pos - 1, 0)  # a last "\r" may start the CRLF
            return NOT_A_LENGTH
        self._scanned = 0
        value = _length_at(octets, pos + 1, end)
        if value == NOT_A_LENGTH:
            raise ProtocolError(
                f"Protocol error: invalid {'multibulk' if kind == 'mbulk' else 'bulk'} length"
            )
        self._line_end = end + 2
        return value

    def _inline(self, buf: bytes | bytearray, pos: int, frames: list[Frame]) -> int:
        """Read the inline request (a line of words) at ``pos`` into ``frames`` (none for a line
        of blanks); return the position after its line, or -1 if the line is not whole yet."""
        end = buf.find(b"\n", pos + self._scanned)
        size = len(buf)
        if end < 0:
            if size - pos > MAX_INLINE:
                raise ProtocolError("Protocol error: too big inline request")
            self._need = size - pos + 1
            self._scanned = size - pos
            return -1
        self._scanned = 0
        line_end = end - 1 if end > pos and buf[end - 1] == 0x0D else end
        inline = split_inline_args(bytes(buf[pos:line_end]))
        if inline is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        limits = self.limits
        if len(inline) > limits.max_args:  # the limits hold for inline requests too
            raise ProtocolError(
                "Protocol error: unauthenticated multibulk length"
                if limits.unauthenticated
                else "Protocol error: invalid multibulk length"
            )
        if inline and max(map(len, inline)) > limits.max_bulk_len:
            raise ProtocolError(
                "Protocol error: unauthenticated bulk length"
                if limits.unauthenticated
                else "Protocol error: invalid bulk length"
            )
        if inline:  # a line of blanks (an empty line) is no request, as in Redis
            frames.append(inline)
        return end + 1

    def _parse(self, buf: bytes | bytearray, frames: list[Frame]) -> int:
        """Parse as many complete frames as ``buf`` holds; return the bytes consumed."""
        limits = self.limits
        # Read once per call, as C integers in the compiled build (a dataclass's attribute
        # costs a generic look-up there, per request); no count or length parsed exceeds
        # sys.maxsize, so a larger limit is as good as it.
        max_args = min(limits.max_args, sys.maxsize)
        max_bulk_len = min(limits.max_bulk_len, sys.maxsize)
        size = len(buf)
        pos = 0
        frame_start = 0
        args = self._args
        # The same bytes under other names, for the compiled build: ``octets`` (a typed
        # memoryview there) is read in C, and ``chars`` (a char pointer there) sliced in C.
        octets = buf
        chars = buf
        sliced_as_bytes = type(buf) is bytes
        while pos < size:
            if self._remaining == 0:
                frame_start = pos
                marker = octets[pos]
                if marker != 0x2A:  # '*': an inline request, one line of words, as Redis reads
                    end = self._inline(buf, pos, frames)
                    if end < 0:  # the line is not whole yet: kept unconsumed
                        return pos
                    pos = end
                    continue
                count = self._header(buf, octets, pos, "mbulk")
                if count == NOT_A_LENGTH:
                    return frame_start
                pos = self._line_end
                if count > max_args:
                    raise ProtocolError(
                        "Protocol error: unauthenticated multibulk length"
                        if limits.unauthenticated
                        else "Protocol error: invalid multibulk length"
                    )
                if count <= 0:  # an empty request is skipped, as Redis does
                    continue
                self._remaining = count
                args = self._args = []
            while self._remaining:
                if self._bulk_len < 0:
                    if pos >= size:
                        self._need = 1
                        return pos
                    marker = octets[pos]
                    if marker != 0x24:  # '$'
                        raise ProtocolError(
                            f"Protocol error: expected '$', got '{shown_byte(marker)}'"
                        )
                    length = self._header(buf, octets, pos, "bulk")
                    if length == NOT_A_LENGTH:
                        return pos
                    pos = self._line_end
                    if length < 0 or length > max_bulk_len:
                        raise ProtocolError(
                            "Protocol error: unauthenticated bulk length"
                            if limits.unauthenticated and length >= 0
                            else "Protocol error: invalid bulk length"
                        )
                    self._bulk_len = length
                end = pos + self._bulk_len
                if end + 2 > size:
                    if self._bulk_len >= LARGE_ARGUMENT:  # collect it read by read
                        self._long_parts = [bytes(buf[pos : min(end, size)])]
                        self._long_missing = end + 2 - size
                        self._need = 0
                        return size
                    self._need = self._bulk_len + 2  # counted from ``pos``, kept unconsumed
                    return pos
                if sliced_as_bytes:  # a slice of bytes is the argument (mypy: buf is bytes)
                    args.append(chars[pos:end])  # type: ignore[arg-type]
                elif self._bulk_len < LARGE_ARGUMENT:
                    args.append(bytes(buf[pos:end]))
                else:  # a bytearray slice is a copy: copy a long value once, not twice
                    with memoryview(buf) as view:
                        args.append(bytes(view[pos:end]))
                pos = end + 2
                self._bulk_len = -1
                self._remaining -= 1
            frames.append(args)
            args = self._args = []
        self._need = 0
        return pos


# What hiredis turns into bytes or a list of them though a request must not contain it, after
# a line end: a simple string, a verbatim string, a big number, a set, a push, an attribute,
# a map (whose keys would pass for arguments); and a boolean, whose "false" its reader also
# returns for "no complete reply yet", so it would vanish. Values can hold these bytes too; a
# match only sends the chunk down the exact path. (After a bulk string whose two line-end
# bytes are not CRLF, which both parsers skip unread as Redis does, this cannot see such a
# header: there the two paths may differ, and either answers or refuses a request its sender
# garbled.)
_SUSPECT = re.compile(rb"\r\n[+=(~>|%#]")
#: Every byte but those _SUSPECT looks for after a line end: deleting these from a chunk leaves
#: nothing when none of them occurs anywhere, which one pass of ``translate`` tells at about
#: half the cost of the regular expression's search (measured with callgrind).
_NOT_SUSPECT = bytes(byte for byte in range(256) if byte not in b"+=(~>|%#")
#: Below this size, a chunk (one short request, say) is searched at once: there the two cost
#: about the same, so trying translate first would only add to the search.
_TRANSLATE_FIRST = 256
_BOUNDARY_PROBE = b"*0\r\n"
#: A bulk header of five digits or more near the start of a long read: the read most likely
#: begins a long argument, which the exact parser collects without scanning it for _SUSPECT.
_LONG_BULK_HEADER = re.compile(rb"\r\n\$\d{5}")
_LONG_BULK_WINDOW = 4096


class HiredisRequestParser:
    """RESP request parser on ``hiredis`` with :class:`RequestParser` as its authority."""

    def __init__(self, limits: RequestLimits | None = None) -> None:
        hiredis = load_hiredis()
        self._new_reader = hiredis.Reader
        self._hiredis_error: type[Exception] = hiredis.ProtocolError
        self._reader = hiredis.Reader()
        self._exact = RequestParser(limits)
        self._in_exact = False
        #: The exact parser's error, copied after each chunk it parses: a plain attribute, as
        #: the server reads it after every chunk.
        self.error: ProtocolError | None = None
        self.limits = self._exact.limits

    @property
    def limits(self) -> RequestLimits:
        return self._exact.limits

    @limits.setter
    def limits(self, value: RequestLimits) -> None:
        self._exact.limits = value
        # A chunk this long could hold a frame over the limits: parse it exactly.
        self._largest_safe_chunk = min(value.max_bulk_len, 4 * value.max_args)

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame: hiredis keeps none between
        reads (a read that ends inside a frame goes to the exact parser)."""
        return self._exact.pending

    @property
    def discarded(self) -> int:
        return self._exact.discarded

    def feed(self, data: bytes) -> list[Frame]:
        if self._in_exact:
            return self._feed_exact(data)
        if (
            data[:1] != b"*"
            or len(data) > self._largest_safe_chunk
            or (len(data) > LARGE_ARGUMENT and _LONG_BULK_HEADER.search(data, 0, _LONG_BULK_WINDOW))
            or (
                (len(data) < _TRANSLATE_FIRST or data.translate(None, _NOT_SUSPECT))
                and _SUSPECT.search(data)
            )
        ):
            return self._feed_exact(data)
        reader = self._reader
        reader.feed(data)
        frames: list[Frame] = []
        join = b"".join
        try:
            while True:
                frame = reader.gets()
                if frame is False:
                    break
                if type(frame) is not list or not frame:
                    return self._recover(data, frames)
                join(frame)  # raises TypeError unless every element is a bulk string
                frames.append(frame)
            # Is a partial frame left over? ``reader.has_data()`` cannot tell: hiredis consumes
            # a type byte or an aggregate's complete items before the aggregate is whole. An
            # empty request fed after the chunk comes back as itself only if the reader was
            # between frames; otherwise it is swallowed by, or breaks, the partial frame.
            reader.feed(_BOUNDARY_PROBE)
            if reader.gets() != [] or reader.has_data():
                return self._recover(data, frames)
        except (self._hiredis_error, TypeError):
            return self._recover(data, frames)
        return frames

    def _feed_exact(self, data: bytes) -> list[Frame]:
        self._in_exact = True
        frames = self._exact.feed(data)
        self.error = self._exact.error
        if self._exact.at_boundary and self.error is None:
            self._in_exact = False  # after an error, every later chunk goes (nowhere) here too
        return frames

    def _recover(self, data: bytes, good: list[Frame]) -> list[Frame]:
        """Hand the bytes after the well-formed frames to the exact parser."""
        self._reader = self._new_reader()
        offset = sum(encoded_request_size(frame) for frame in good)
        return good + self._feed_exact(data[offset:])


def make_request_parser(
    limits: RequestLimits | None = None, *, use_hiredis: bool
) -> RequestDecoder:
    if use_hiredis:
        return HiredisRequestParser(limits)
    return RequestParser(limits)
