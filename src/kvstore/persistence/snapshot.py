"""The snapshot format: the whole table in one file, checked by a CRC32.

Layout (integers big-endian)::

    b"KVSNAP" version:u16
    next_log:u64 created_ms:u64 count:u64          the log sequence this snapshot precedes
    count x (key_len:u32 value_len:u32 deadline:i64 key value)    deadline -1: none
    b"END!" crc32:u32                              CRC32 of every byte before it

Version 2 numbers the databases: the records are database 0's until a marker
``(0xFFFFFFFF, n, -1)`` (no key or value; not counted in ``count``) says the records after it
are database ``n``'s. A version 1 snapshot, written before databases, is all database 0's and
loads so; a snapshot of database 0 alone is the same bytes as version 1 but for the version.

A snapshot covers every log with a sequence number below ``next_log``; start-up replays the
logs from ``next_log`` on over it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kvstore.keyspace import Databases, Keyspace, as_databases
from kvstore.persistence.disk import Disk
from kvstore.persistence.records import DatabaseOutOfRangeError

MAGIC = b"KVSNAP"
VERSION = 2
#: Versions this code reads.
READABLE = (1, 2)
#: A record header with this key length is a database marker (its value length the number).
DB_MARKER = 0xFFFFFFFF
_PREAMBLE = struct.Struct(">6sHQQQ")
_RECORD = struct.Struct(">IIq")
_TRAILER = struct.Struct(">4sI")
END = b"END!"
#: Bytes gathered before each write.
CHUNK = 1 << 20


class SnapshotDamagedError(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class Header:
    next_log: int
    created_ms: int
    count: int


def is_snapshot(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def write_snapshot(
    disk: Disk,
    fd: int,
    items: Iterable[tuple[int, bytes, bytes, int | None]],
    *,
    count: int,
    next_log: int,
    created_ms: int,
) -> int:
    """Write a whole snapshot to ``fd`` and fsync it; return its size."""
    pieces = [_PREAMBLE.pack(MAGIC, VERSION, next_log, created_ms, count)]
    pending = len(pieces[0])
    crc = 0
    size = 0
    pack = _RECORD.pack
    current = 0
    for index, key, value, deadline in items:
        if index != current:
            pieces.append(pack(DB_MARKER, index, -1))
            current = index
        pieces.append(pack(len(key), len(value), -1 if deadline is None else deadline))
        pieces.append(key)
        pieces.append(value)
        pending += 16 + len(key) + len(value)
        if pending >= CHUNK:
            chunk = b"".join(pieces)
            crc = zlib.crc32(chunk, crc)
            disk.write_all(fd, chunk)
            size += len(chunk)
            pieces.clear()
            pending = 0
    pieces.append(END)
    chunk = b"".join(pieces)
    crc = zlib.crc32(chunk, crc)
    chunk += struct.pack(">I", crc)
    disk.write_all(fd, chunk)
    disk.fsync(fd)
    return size + len(chunk)


def encode(
    items: Iterable[tuple[int, bytes, bytes, int | None]], next_log: int, created_ms: int
) -> bytes:
    """A whole snapshot as bytes (for tests and the checker's repairs)."""
    listed = list(items)
    pieces = [_PREAMBLE.pack(MAGIC, VERSION, next_log, created_ms, len(listed))]
    current = 0
    for index, key, value, deadline in listed:
        if index != current:
            pieces.append(_RECORD.pack(DB_MARKER, index, -1))
            current = index
        pieces.append(_RECORD.pack(len(key), len(value), -1 if deadline is None else deadline))
        pieces += (key, value)
    pieces.append(END)
    body = b"".join(pieces)
    return body + struct.pack(">I", zlib.crc32(body))


def read_header(data: bytes) -> Header:
    if len(data) < _PREAMBLE.size:
        raise SnapshotDamagedError(len(data), "file too short for a snapshot header")
    magic, version, next_log, created_ms, count = _PREAMBLE.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotDamagedError(0, "not a snapshot (bad magic)")
    if version not in READABLE:
        raise SnapshotDamagedError(6, f"unsupported snapshot version {version}")
    return Header(next_log, created_ms, count)


def verify(data: bytes) -> Header:
    """The header of a snapshot whose checksum is sound; raise SnapshotDamagedError if not."""
    header = read_header(data)
    if len(data) < _PREAMBLE.size + _TRAILER.size:
        raise SnapshotDamagedError(len(data), "file cut short")
    end, crc = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
    if end != END or zlib.crc32(memoryview(data)[:-4]) != crc:
        raise SnapshotDamagedError(
            len(data) - _TRAILER.size, "checksum mismatch (damaged or cut short)"
        )
    return header


def records(data: bytes, header: Header) -> Iterator[tuple[int, bytes, bytes, int | None]]:
    """Decode the records as (database, key, value, deadline); raises SnapshotDamagedError
    where they stop making sense."""
    pos = _PREAMBLE.size
    limit = len(data) - _TRAILER.size
    unpack = _RECORD.unpack_from
    index = 0
    count = 0
    while count < header.count or (pos + 16 <= limit and unpack(data, pos)[0] == DB_MARKER):
        if pos + 16 > limit:
            raise SnapshotDamagedError(pos, "record header past the end")
        key_len, value_len, deadline = unpack(data, pos)
        if key_len == DB_MARKER:
            if deadline != -1:
                raise SnapshotDamagedError(pos, "bad database marker")
            index = value_len
            pos += 16
            continue
        start = pos + 16
        end = start + key_len + value_len
        if end > limit or deadline < -1:
            raise SnapshotDamagedError(pos, "bad record")
        yield (
            index,
            data[start : start + key_len],
            data[start + key_len : end],
            None if deadline == -1 else deadline,
        )
        pos = end
        count += 1
    if pos != limit:
        raise SnapshotDamagedError(pos, "bytes after the last record")


def load(data: bytes, db: Databases | Keyspace, header: Header | None = None) -> Header:
    """Fill ``db`` from a snapshot (verified here unless its ``header`` is given, from
    :func:`verify`); return its header. DatabaseOutOfRangeError if it holds a database past
    ``db``'s number."""
    if header is None:
        header = verify(data)
    db = as_databases(db)
    now = db.clock()
    current = -1
    set_key = db[0].set
    for index, key, value, deadline in records(data, header):
        if index != current:
            if index >= len(db):
                raise DatabaseOutOfRangeError(
                    f"the snapshot holds database {index}, but there are {len(db)} "
                    f"(--databases): start with --databases {index + 1} or more"
                )
            set_key = db[index].set
            current = index
        if deadline is None or deadline > now:
            set_key(key, value, deadline)
    return header


@dataclass
class Salvage:
    """What can still be read from a damaged snapshot."""

    #: The header's fields, when its magic and version are right (else None: not to be trusted).
    header: Header | None
    items: list[tuple[int, bytes, bytes, int | None]]
    #: Where the records stop making sense (None: they run cleanly to the end).
    stopped: int | None


def salvage(data: bytes) -> Salvage:
    """The records that still parse from a damaged snapshot, whatever its header says: they
    run from the end of the header to the trailer (or the end of a file cut short)."""
    header: Header | None = None
    if len(data) >= _PREAMBLE.size:
        magic, version, next_log, created_ms, count = _PREAMBLE.unpack_from(data)
        if magic == MAGIC and version in READABLE:
            header = Header(next_log, created_ms, count)
    else:
        return Salvage(None, [], 0 if data else None)
    limit = len(data)
    if limit >= _PREAMBLE.size + _TRAILER.size and data[limit - 8 : limit - 4] == END:
        limit -= _TRAILER.size
    pos = _PREAMBLE.size
    kept: list[tuple[int, bytes, bytes, int | None]] = []
    index = 0
    while pos < limit:
        if pos + 16 > limit:
            return Salvage(header, kept, pos)
        key_len, value_len, deadline = _RECORD.unpack_from(data, pos)
        if key_len == DB_MARKER and deadline == -1:
            index = value_len
            pos += 16
            continue
        start = pos + 16
        end = start + key_len + value_len
        if end > limit or deadline < -1:
            return Salvage(header, kept, pos)
        kept.append(
            (
                index,
                data[start : start + key_len],
                data[start + key_len : end],
                None if deadline == -1 else deadline,
            )
        )
        pos = end
    return Salvage(header, kept, None)
