"""What the command layer asks of the layers above it, as protocols: the append-only log,
persistence's controls, the server's controls, and the runner EXEC sends its queue through.

A leaf: it imports nothing of the command layer, so every module of it may name these. The
server's assembly hands real objects in (``Dispatcher(journal=...)``, ``ServerState(...)``);
with persistence off, or in a bare dispatcher in tests, they are None and cost one ``is None``
test where they are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from kvstore.protocol.replies import Reply, ReplyError


class LoggedCommand(Protocol):
    """What the log reads of a command to record its effect: its name and key positions."""

    @property
    def name(self) -> str: ...

    @property
    def first_key(self) -> int: ...

    @property
    def last_key(self) -> int: ...

    @property
    def key_step(self) -> int: ...


class Journal(Protocol):
    """The append-only log, as the dispatcher sees it."""

    #: Set while the disk fails: write commands get this error (MISCONF) instead of running.
    @property
    def refusal(self) -> ReplyError | None: ...

    def record(self, command: LoggedCommand, args: list[bytes]) -> None:
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


class ServerControl(Protocol):
    """What SHUTDOWN and CONFIG SET ask of the server."""

    def shutdown(self, save: bool | None) -> None:
        """Stop gracefully, as on SIGTERM; ``save``: True/False forces/skips the snapshot."""

    def config_set(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Change options at run time (see :class:`kvstore.config.runtime.RuntimeConfig`)."""


SessionT_contra = TypeVar("SessionT_contra", contravariant=True)


class Runner(Protocol[SessionT_contra]):
    """Runs one request as if a client had sent it (the dispatcher): EXEC runs its queue so."""

    def execute(self, session: SessionT_contra, args: list[bytes]) -> Reply: ...
