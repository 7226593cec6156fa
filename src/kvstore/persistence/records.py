"""Log records: RESP frames stating each changed key's resulting state, and a strict scanner.

Records are effects, not commands: ``SET key value [PXAT ms]``, ``DEL key``, ``FLUSHALL``. The
deadline is absolute, so replaying the log at any later time rebuilds the same table.

Each batch of records written at once (one ``write(2)``) is preceded by a checksum record,
``CRC32 <length> <crc>``: the length (10 decimal digits) and CRC32 (8 hex digits) of the bytes
after it, fixed-width so replay reads it with slices. Damage inside a record is then found,
which RESP framing alone cannot do. Logs written before checksums existed (no checksum record
first) still load, unchecked, until the first checksum record; from there on every batch has
one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from kvstore.build import load_hiredis
from kvstore.keyspace import Databases, Keyspace, as_databases
from kvstore.protocol.resp import CRLF, array_head, bulk_header, encode_bulk, encode_request
from kvstore.protocol.resp_requests import parse_length

FLUSHALL = encode_request([b"FLUSHALL"])
FLUSHDB = encode_request([b"FLUSHDB"])
#: How ``SET key value`` (then ``PXAT ms`` for a deadline) and ``DEL key`` records begin.
SET_HEAD = array_head(3, b"SET")
SET_PXAT_HEAD = array_head(5, b"SET")
PXAT = encode_bulk(b"PXAT")
DEL_HEAD = array_head(2, b"DEL")

# Records are joined from a head, bulk headers from protocol's table and the data rather than
# %-formatted: a pipelined SET costs about 500 instructions fewer (callgrind), and ``%b`` copies
# a long payload ten times slower than a join.


def encode_set(key: bytes, value: bytes, deadline: int | None) -> bytes:
    if deadline is None:
        return b"".join(
            (SET_HEAD, bulk_header(len(key)), key, CRLF, bulk_header(len(value)), value, CRLF)
        )
    when = b"%d" % deadline
    return b"".join(
        (
            *(SET_PXAT_HEAD, bulk_header(len(key)), key, CRLF),
            *(bulk_header(len(value)), value, CRLF),
            *(PXAT, bulk_header(len(when)), when, CRLF),
        )
    )


def encode_del(key: bytes) -> bytes:
    return b"".join((DEL_HEAD, bulk_header(len(key)), key, CRLF))


def encode_select(index: int) -> bytes:
    """``SELECT n``: the records after it are database ``n``'s (each log starts in 0)."""
    number = b"%d" % index
    return b"*2\r\n$6\r\nSELECT\r\n%b%b\r\n" % (bulk_header(len(number)), number)


def encode_swapdb(first: int, second: int) -> bytes:
    a, b = b"%d" % first, b"%d" % second
    return b"*3\r\n$6\r\nSWAPDB\r\n%b%b\r\n%b%b\r\n" % (
        bulk_header(len(a)),
        a,
        bulk_header(len(b)),
        b,
    )


class LogCursor:
    """Where replaying a log stands: the databases, and the one its records apply to (the
    last ``SELECT``; 0 at the start of every log)."""

    __slots__ = ("db", "dbs")

    def __init__(self, dbs: Databases) -> None:
        self.dbs = dbs
        self.db = dbs[0]


#: How a checksum record begins (enough to tell it from any other record).
FRAME_START = array_head(3, b"CRC32")
_FRAME_LENGTH_AT = len(FRAME_START) + 5  # after "$10\r\n"
_FRAME_MIDDLE = b"\r\n$8\r\n"
FRAME_SIZE = _FRAME_LENGTH_AT + 10 + len(_FRAME_MIDDLE) + 8 + 2
_FRAME_TEMPLATE = FRAME_START + b"$10\r\n" + b"0" * 10 + _FRAME_MIDDLE + b"x" * 8 + CRLF


def frame(data: bytes) -> bytes:
    """``data`` (whole records) preceded by its checksum record. At most 9,999,999,999 bytes:
    far more than one loop iteration can gather."""
    head = b"%b$10\r\n%010d%b%08x\r\n" % (FRAME_START, len(data), _FRAME_MIDDLE, zlib.crc32(data))
    return b"".join((head, data))


def _frame_length(data: bytes, pos: int) -> int | None:
    """The length a well-formed checksum record at ``pos`` announces, or None."""
    head = data[pos : pos + FRAME_SIZE]
    length = head[_FRAME_LENGTH_AT : _FRAME_LENGTH_AT + 10]
    if (
        head[:_FRAME_LENGTH_AT] == _FRAME_TEMPLATE[:_FRAME_LENGTH_AT]
        and length.isdigit()
        and head[_FRAME_LENGTH_AT + 10 : FRAME_SIZE - 10] == _FRAME_MIDDLE
        and head[-2:] == CRLF
        and len(head) == FRAME_SIZE
    ):
        return int(length)
    return None


def _frame_sound(data: bytes, pos: int, length: int) -> bool:
    start = pos + FRAME_SIZE
    crc = zlib.crc32(memoryview(data)[start : start + length])
    return b"%08x" % crc == data[start - 10 : start - 2]


def _sound_frame_after(data: bytes, pos: int) -> bool:
    """A whole batch with a sound checksum starts after ``pos``. A batch whose length runs past
    the end of the file is a torn tail only if none does: a crash cuts the last batch, while a
    damaged length in an earlier one leaves later batches whole behind it."""
    at = data.find(FRAME_START, pos + 1)
    while at >= 0:
        length = _frame_length(data, at)
        if (
            length is not None
            and at + FRAME_SIZE + length <= len(data)
            and _frame_sound(data, at, length)
        ):
            return True
        at = data.find(FRAME_START, at + 1)
    return False


def _could_be_cut_frame(rest: bytes) -> bool:
    """``rest`` (the end of a file) is the start of a checksum record."""
    for got, want in zip(rest, _FRAME_TEMPLATE, strict=False):
        if want == 0x30:  # "0": a digit
            if not 0x30 <= got <= 0x39:
                return False
        elif want == 0x78:  # "x": a lower-case hex digit
            if not (0x30 <= got <= 0x39 or 0x61 <= got <= 0x66):
                return False
        elif got != want:
            return False
    return True


class DamagedRecordError(Exception):
    """Bytes that are not a valid record, at ``offset``."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.offset = offset
        self.reason = reason


@dataclass
class Scan:
    """How far a log parses: ``good_end`` is the end of the last complete record."""

    records: int
    good_end: int
    size: int
    #: Set when the bytes after ``good_end`` are a valid record cut short (a torn tail).
    truncated: bool
    damage: DamagedRecordError | None
    #: The database the last record applied was for (where the log's writer stood).
    last_db: int = 0

    @property
    def intact(self) -> bool:
        return self.damage is None and not self.truncated


class _CutShortError(Exception):
    pass


def _line(data: bytes, pos: int, prefix: int) -> tuple[int, int]:
    """Parse ``<prefix><digits>\r\n`` at ``pos``; return (number, position after)."""
    if pos >= len(data):
        raise _CutShortError
    if data[pos] != prefix:
        raise DamagedRecordError(pos, f"expected {chr(prefix)!r}")
    end = data.find(b"\r\n", pos + 1, pos + 24)
    if end < 0:
        rest = data[pos + 1 : pos + 24]
        digits = rest[:-1] if rest.endswith(b"\r") else rest
        if pos + 1 + len(rest) == len(data) and (digits == b"" or digits.isdigit()):
            raise _CutShortError  # the file ends inside this line
        raise DamagedRecordError(pos, "bad length line")
    value = parse_length(data[pos + 1 : end])
    if value is None or value < 0:
        raise DamagedRecordError(pos, "bad length line")
    return value, end + 2


def parse_record(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """One record at ``pos``: (its words, position after); raises if damaged or cut short."""
    start = pos
    count, pos = _line(data, pos, 0x2A)  # *
    if not 1 <= count <= 5:
        raise DamagedRecordError(start, "bad record length")
    words = []
    for _ in range(count):
        size, pos = _line(data, pos, 0x24)  # $
        end = pos + size
        if end + 2 > len(data):
            if len(data) > end and data[end:] != b"\r":
                raise DamagedRecordError(end, "bad bulk terminator")
            raise _CutShortError
        if data[end : end + 2] != b"\r\n":
            raise DamagedRecordError(end, "bad bulk terminator")
        words.append(data[pos:end])
        pos = end + 2
    return words, pos


def scan(data: bytes, dbs: Databases | Keyspace | None = None) -> Scan:
    """Check (and with ``dbs``, apply) every record of a log's bytes. A batch is applied only
    once its checksum has been verified."""
    db = None if dbs is None else LogCursor(as_databases(dbs))
    pos = 0
    records = 0
    size = len(data)
    framed = False  # a checksum record was seen: every batch must have one
    while pos < size:
        start = pos
        try:
            if data.startswith(FRAME_START, pos) or (
                size - pos < len(FRAME_START) and FRAME_START.startswith(data[pos:])
            ):
                framed = True
                records += _scan_batch(data, pos, db)
                pos += FRAME_SIZE + int(data[pos + _FRAME_LENGTH_AT : pos + _FRAME_LENGTH_AT + 10])
                continue
            if framed:
                raise DamagedRecordError(pos, "expected a checksum record")
            words, pos = parse_record(data, pos)
            apply_record(words, start, db)
        except _CutShortError:
            return Scan(records, start, size, True, None, _where(db))
        except DamagedRecordError as damage:
            return Scan(records, start, size, False, damage)
        records += 1
    return Scan(records, pos, size, False, None, _where(db))


def _where(cursor: LogCursor | None) -> int:
    return 0 if cursor is None else cursor.db.index


def _scan_batch(data: bytes, pos: int, db: LogCursor | None) -> int:
    """Verify the batch whose checksum record is at ``pos``, then apply it; its record count."""
    length = _frame_length(data, pos)
    if length is None:
        if len(data) - pos < FRAME_SIZE and _could_be_cut_frame(data[pos:]):
            raise _CutShortError
        raise DamagedRecordError(pos, "bad checksum record")
    end = pos + FRAME_SIZE + length
    if end > len(data):
        if _sound_frame_after(data, pos):
            raise DamagedRecordError(pos, f"a batch length ({length}) past later batches")
        raise _CutShortError
    if not _frame_sound(data, pos, length):
        raise DamagedRecordError(pos, f"checksum mismatch in the batch of {length} bytes")
    batch = data[pos + FRAME_SIZE : end]
    words_seen: list[list[bytes]] = []
    at = 0
    try:
        while at < length:
            words, at = parse_record(batch, at)
            apply_record(words, pos + FRAME_SIZE + at, None)
            words_seen.append(words)
    except (_CutShortError, DamagedRecordError):
        # Its checksum holds, so these bytes were written so: not a crash's doing.
        raise DamagedRecordError(pos, "a batch that does not hold whole records") from None
    if db is not None:
        for words in words_seen:
            apply_record(words, pos, db)
    return len(words_seen)


def _index(word: bytes) -> int | None:
    """A database number as a record writes it, or None."""
    return int(word) if word.isdigit() and len(word) < 10 else None


def apply_record(words: list[bytes], offset: int, cursor: LogCursor | None) -> None:
    """Apply one record at ``cursor`` (or only validate it when ``cursor`` is None)."""
    name = words[0]
    count = len(words)
    db = None if cursor is None else cursor.db
    if name == b"SET" and count == 3:
        if db is not None:
            db.set(words[1], words[2])
    elif name == b"SET" and count == 5 and words[3] == b"PXAT" and words[4].isdigit():
        if db is not None:
            db.set(words[1], words[2], int(words[4]))
    elif name == b"DEL" and count == 2:
        if db is not None:
            db.delete(words[1])
    elif name == b"SELECT" and count == 2 and (index := _index(words[1])) is not None:
        if cursor is not None:
            cursor.db = cursor.dbs[_in_range(index, cursor.dbs, offset)]
    elif name == b"FLUSHALL" and count == 1:
        if cursor is not None:
            cursor.dbs.clear()
    elif name == b"FLUSHDB" and count == 1:
        if db is not None:
            db.clear()
    elif (
        name == b"SWAPDB"
        and count == 3
        and (first := _index(words[1])) is not None
        and (second := _index(words[2])) is not None
    ):
        if cursor is not None:
            dbs = cursor.dbs
            dbs.swap(_in_range(first, dbs, offset), _in_range(second, dbs, offset))
    else:
        raise DamagedRecordError(offset, "unknown record")


class DatabaseOutOfRangeError(Exception):
    """The log names a database past ``--databases``: loading it would lose its keys."""


def _in_range(index: int, dbs: Databases, offset: int) -> int:
    if index >= len(dbs):
        raise DatabaseOutOfRangeError(
            f"a record at offset {offset} is for database {index}, but there are {len(dbs)} "
            f"(--databases): start with --databases {index + 1} or more"
        )
    return index


def iter_records(data: bytes) -> Iterator[list[bytes]]:
    """The records of a log, without its checksum records (which are not checked here)."""
    pos = 0
    while pos < len(data):
        words, pos = parse_record(data, pos)
        if words[0] != b"CRC32":
            yield words


#: Bytes handed to hiredis at a time (it moves its buffer on every reply: keep it small).
_FAST_CHUNK = 1 << 16
#: Fed after the log: parsed back as a frame of its own only if the log ends on a record
#: boundary (a torn record would swallow part of it), which hiredis cannot tell otherwise.
_SENTINEL = [b"\xffend-of-log"]
_SENTINEL_FRAME = encode_request(_SENTINEL)


class StartOverError(Exception):
    """The fast replay stopped after applying records: rebuild the table with :func:`scan`."""


def _check_frames(data: bytes, pos: int) -> tuple[int, int] | None:
    """Verify the checksums of the batches from ``pos`` on: (where the sound batches end, how
    many there are), or None where anything but a batch cut short at the end is found."""
    size = len(data)
    batches = 0
    while pos < size:
        length = _frame_length(data, pos)
        if length is None:
            return None
        end = pos + FRAME_SIZE + length
        if end > size:
            if _sound_frame_after(data, pos):
                return None  # a damaged length, not a torn tail: scan() says where
            return pos, batches  # the last batch cut short
        if not _frame_sound(data, pos, length):
            return None
        pos = end
        batches += 1
    return pos, batches


def replay(data: bytes, dbs: Databases | Keyspace) -> Scan | None:
    """Apply a log to ``dbs`` with hiredis, tens of times faster than :func:`scan`. None, with
    ``db`` untouched, if hiredis is not installed or a checksum fails; StartOverError if
    anything else looks wrong after records were applied: the caller then starts over from an
    empty table with :func:`scan`, which says exactly what is wrong and where."""
    try:
        hiredis = load_hiredis()
    except ImportError:
        return None
    # Checksums first (at C speed), so that a damaged batch is found before anything is
    # applied. A log from before checksums has none until its first checksum record.
    split = data.find(FRAME_START)
    if split < 0:
        split, batches = len(data), 0
        good_end = split
    else:
        checked = _check_frames(data, split)
        if checked is None:
            return None
        good_end, batches = checked
    reader = hiredis.Reader()
    cursor = LogCursor(as_databases(dbs))
    count = 0
    frames = 0
    ended = False
    chunks = [
        data[start : min(start + _FAST_CHUNK, good_end)]
        for start in range(0, good_end, _FAST_CHUNK)
    ]
    try:
        for chunk in [*chunks, _SENTINEL_FRAME]:
            reader.feed(chunk)
            words = reader.gets()
            while words is not False:
                if ended or type(words) is not list:
                    raise StartOverError
                if words == _SENTINEL:
                    if chunk is not _SENTINEL_FRAME:
                        raise StartOverError  # the log itself holds one: damage
                    ended = True
                elif words[0] == b"CRC32":
                    if len(words) != 3:
                        # A damaged count swallowed the records after it as its elements.
                        raise StartOverError
                    frames += 1
                elif all(type(word) is bytes for word in words):
                    apply_record(words, 0, cursor)
                    count += 1
                else:
                    raise StartOverError
                words = reader.gets()
    except (hiredis.ProtocolError, DamagedRecordError, TypeError):
        raise StartOverError from None
    if not ended or frames != batches:
        # A torn record before the checksummed part, or hiredis and the checksums disagree on
        # where records begin (a value holding FRAME_START before the real first one).
        raise StartOverError
    return Scan(count, good_end, len(data), good_end < len(data), None, cursor.db.index)
