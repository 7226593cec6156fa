"""The snapshot format: the whole table in one file, checked by a CRC32.

Layout (integers big-endian)::

    b"KVSNAP" version:u16
    next_log:u64 created_ms:u64 count:u64          the log sequence this snapshot precedes
    count x (key_len:u32 value_len:u32 deadline:i64 key value)    deadline -1: none
    b"END!" crc32:u32                              CRC32 of every byte before it

A snapshot covers every log with a sequence number below ``next_log``; start-up replays the
logs from ``next_log`` on over it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kvstore.keyspace import Keyspace
from kvstore.persistence.disk import Disk

MAGIC = b"KVSNAP"
VERSION = 1
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
    items: Iterable[tuple[bytes, bytes, int | None]],
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
    for key, value, deadline in items:
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
    items: Iterable[tuple[bytes, bytes, int | None]], next_log: int, created_ms: int
) -> bytes:
    """A whole snapshot as bytes (for tests and the checker's repairs)."""
    listed = list(items)
    pieces = [_PREAMBLE.pack(MAGIC, VERSION, next_log, created_ms, len(listed))]
    for key, value, deadline in listed:
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
    if version != VERSION:
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


def records(data: bytes, header: Header) -> Iterator[tuple[bytes, bytes, int | None]]:
    """Decode the records; raises SnapshotDamagedError where they stop making sense."""
    pos = _PREAMBLE.size
    limit = len(data) - _TRAILER.size
    unpack = _RECORD.unpack_from
    for _ in range(header.count):
        if pos + 16 > limit:
            raise SnapshotDamagedError(pos, "record header past the end")
        key_len, value_len, deadline = unpack(data, pos)
        start = pos + 16
        end = start + key_len + value_len
        if end > limit or deadline < -1:
            raise SnapshotDamagedError(pos, "bad record")
        yield (
            data[start : start + key_len],
            data[start + key_len : end],
            None if deadline == -1 else deadline,
        )
        pos = end
    if pos != limit:
        raise SnapshotDamagedError(pos, "bytes after the last record")


def load(data: bytes, db: Keyspace, header: Header | None = None) -> Header:
    """Fill ``db`` from a snapshot (verified here unless its ``header`` is given, from
    :func:`verify`); return its header."""
    if header is None:
        header = verify(data)
    set_key = db.set
    now = db.clock()
    for key, value, deadline in records(data, header):
        if deadline is None or deadline > now:
            set_key(key, value, deadline)
    return header


@dataclass
class Salvage:
    """What can still be read from a damaged snapshot."""

    #: The header's fields, when its magic and version are right (else None: not to be trusted).
    header: Header | None
    items: list[tuple[bytes, bytes, int | None]]
    #: Where the records stop making sense (None: they run cleanly to the end).
    stopped: int | None


def salvage(data: bytes) -> Salvage:
    """The records that still parse from a damaged snapshot, whatever its header says: they
    run from the end of the header to the trailer (or the end of a file cut short)."""
    header: Header | None = None
    if len(data) >= _PREAMBLE.size:
        magic, version, next_log, created_ms, count = _PREAMBLE.unpack_from(data)
        if magic == MAGIC and version == VERSION:
            header = Header(next_log, created_ms, count)
    else:
        return Salvage(None, [], 0 if data else None)
    limit = len(data)
    if limit >= _PREAMBLE.size + _TRAILER.size and data[limit - 8 : limit - 4] == END:
        limit -= _TRAILER.size
    pos = _PREAMBLE.size
    kept: list[tuple[bytes, bytes, int | None]] = []
    while pos < limit:
        if pos + 16 > limit:
            return Salvage(header, kept, pos)
        key_len, value_len, deadline = _RECORD.unpack_from(data, pos)
        start = pos + 16
        end = start + key_len + value_len
        if end > limit or deadline < -1:
            return Salvage(header, kept, pos)
        kept.append(
            (
                data[start : start + key_len],
                data[start + key_len : end],
                None if deadline == -1 else deadline,
            )
        )
        pos = end
    return Salvage(header, kept, None)
