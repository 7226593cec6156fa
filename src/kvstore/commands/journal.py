"""What the command layer asks of persistence, without importing it.

The server installs an object with this shape as ``Dispatcher.journal`` (and the persistence
controls as ``ServerState.persistence``); with persistence off both stay None and cost one
``is None`` test per command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from kvstore.protocol.replies import Reply, ReplyError

if TYPE_CHECKING:
    from kvstore.commands.table import Args, Command


class Journal(Protocol):
    """The append-only log, as the dispatcher sees it."""

    #: Set while the disk fails: write commands get this error (MISCONF) instead of running.
    refusal: ReplyError | None

    def record(self, command: Command, args: Args) -> None:
        """Log the effect of a write command that just ran (the state of its keys)."""

    def record_deleted(self, key: bytes) -> None:
        """Log that ``key`` was removed outside a command (maxmemory eviction)."""


class PersistenceControl(Protocol):
    """SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE and INFO persistence."""

    def save(self) -> Reply: ...

    def bgsave(self, schedule: bool = False) -> Reply: ...

    def bgrewriteaof(self) -> Reply: ...

    def lastsave(self) -> int: ...

    def info(self) -> dict[str, str | int]: ...
