"""Reading the replication stream on a replica.

The stream is the primary's append-only log as written: batches of effect records, each
after its checksum record (``CRC32 <length> <crc>``, see :mod:`kvstore.persistence.records`).
A replica applies a batch only once it is whole and its checksum holds, so its offset always
stands on a batch boundary. Between batches the primary may send commands of the link
itself (``PING``, ``REPLCONF GETACK *``); they are not part of the stream and count in no
offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.persistence.records import (
    FRAME_SIZE,
    FRAME_START,
    DamagedRecordError,
    parse_record,
)
from kvstore.persistence.records import (
    _CutShortError as CutShortError,
)
from kvstore.persistence.records import (
    _frame_length as frame_length,
)
from kvstore.persistence.records import (
    _frame_sound as frame_sound,
)


class StreamDamagedError(Exception):
    """Bytes that are neither a sound batch nor a link command: the link must be dropped."""


@dataclass
class Batch:
    """One batch of the stream: its bytes as sent (checksum record included) and its records."""

    data: bytes
    records: list[list[bytes]]


@dataclass
class LinkCommand:
    """A command of the link between batches (PING, REPLCONF GETACK)."""

    words: list[bytes]


class StreamReader:
    """Cuts the bytes received into batches and link commands."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Bytes the buffer must hold before a whole item can be in it (a large batch arrives
        #: in many reads: it is not looked at again until all of it is here).
        self._need = 0

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole item yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Batch | LinkCommand]:
        buffer = self._buffer
        buffer += data
        if len(buffer) < self._need:
            return []
        self._need = 0
        items: list[Batch | LinkCommand] = []
        pos = 0
        view = bytes(buffer)
        size = len(view)
        while pos < size:
            if view[pos] == 0x0A:  # a newline: the primary's keep-alive
                pos += 1
                continue
            if view.startswith(FRAME_START, pos):
                if size - pos < FRAME_SIZE:
                    break
                length = frame_length(view, pos)
                if length is None:
                    raise StreamDamagedError(f"a bad checksum record at stream byte {pos}")
                end = pos + FRAME_SIZE + length
                if end > size:
                    self._need = end - pos
                    break
                if not frame_sound(view, pos, length):
                    raise StreamDamagedError(f"a batch of {length} bytes fails its checksum")
                items.append(Batch(view[pos:end], _records(view, pos + FRAME_SIZE, end)))
                pos = end
                continue
            if size - pos < len(FRAME_START) and FRAME_START.startswith(view[pos:]):
                break  # the start of a checksum record, cut short
            try:
                words, after = parse_record(view, pos)
            except CutShortError:
                break
            except DamagedRecordError as exc:
                raise StreamDamagedError(f"unexpected bytes in the stream: {exc}") from None
            items.append(LinkCommand(words))
            pos = after
        del buffer[:pos]
        return items


def _records(data: bytes, start: int, end: int) -> list[list[bytes]]:
    batch = data[start:end]
    records = []
    pos = 0
    try:
        while pos < len(batch):
            words, pos = parse_record(batch, pos)
            records.append(words)
    except (CutShortError, DamagedRecordError):
        raise StreamDamagedError("a batch that does not hold whole records") from None
    return records
