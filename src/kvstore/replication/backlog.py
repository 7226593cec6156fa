"""The replication backlog: the last bytes of the stream, so a replica that lost its link can
be sent what it missed (``+CONTINUE``) instead of a full copy.

Offsets are Redis's: ``offset`` is the number of the stream's last byte (0 before any), so
the backlog holds bytes ``first_byte_offset`` to ``offset``, and a replica that has applied
up to offset ``n`` asks for ``n + 1``.
"""

from __future__ import annotations


class Backlog:
    __slots__ = ("_data", "offset", "size")

    def __init__(self, size: int, offset: int = 0) -> None:
        self.size = max(size, 1)
        self.offset = offset
        self._data = bytearray()

    @property
    def histlen(self) -> int:
        return len(self._data)

    @property
    def first_byte_offset(self) -> int:
        return self.offset - len(self._data) + 1

    def feed(self, data: bytes) -> None:
        """Append ``data`` to the stream, forgetting what falls out of the window."""
        self.offset += len(data)
        buffer = self._data
        buffer += data
        excess = len(buffer) - self.size
        if excess > 0:
            del buffer[:excess]  # cheap: a bytearray gives up its head without copying

    def since(self, psync_offset: int) -> bytes | None:
        """The bytes from ``psync_offset`` to the end, or None if they are no longer (or
        not yet) all here."""
        if not self.first_byte_offset <= psync_offset <= self.offset + 1:
            return None
        return bytes(self._data[psync_offset - self.first_byte_offset :])

    def reset(self, offset: int) -> None:
        """Start over empty at ``offset`` (a full copy began a new history here)."""
        self._data = bytearray()
        self.offset = offset

    def resize(self, size: int) -> None:
        self.size = max(size, 1)
        excess = len(self._data) - self.size
        if excess > 0:
            del self._data[:excess]
