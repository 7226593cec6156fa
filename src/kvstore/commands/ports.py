"""What the command layer asks of the layers above it, as protocols: the append-only log,
persistence's controls, the server's controls, replication's, and the runner EXEC sends its
queue through.

A leaf: it imports nothing of the command layer, so every module of it may name these. The
server's assembly hands real objects in (``Dispatcher(journal=...)``, ``ServerState(...)``);
with persistence off, or in a bare dispatcher in tests, they are None and cost one ``is None``
test where they are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from kvstore.keyspace import Keyspace
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

    def record(self, command: LoggedCommand, args: list[bytes], db: Keyspace) -> None:
        """Log the effect of a write command that just ran in ``db`` (the state of its keys)."""

    def record_other_db(self, name: str, args: list[bytes], db: Keyspace) -> None:
        """Log what a command that just succeeded in ``db`` did to other databases (FLUSHALL,
        SWAPDB, MOVE, COPY ... DB): their handlers call this, keeping the check off every
        other write's path."""

    def record_deleted(self, key: bytes, db: Keyspace) -> None:
        """Log that ``key`` was removed from ``db`` outside a command (maxmemory eviction)."""


class PersistenceControl(Protocol):
    """SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE and INFO persistence."""

    def save(self) -> Reply: ...

    def bgsave(self, schedule: bool = False) -> Reply: ...

    def bgrewriteaof(self) -> Reply: ...

    def lastsave(self) -> int: ...

    def info(self) -> dict[str, str | int]: ...


class ClientPeer(Protocol):
    """A session's connection, as CLIENT LIST, CLIENT INFO and CLIENT KILL see it."""

    @property
    def fd(self) -> int: ...

    def idle_seconds(self) -> int:
        """Seconds since the client last sent anything."""
        ...

    def buffer_sizes(self) -> tuple[int, int]:
        """Bytes of (unparsed requests, unsent replies)."""
        ...

    def kill(self) -> None:
        """Close the connection once the replies already written are sent."""

    def push(self, data: bytes) -> None:
        """Send ``data`` (encoded) outside any reply: MONITOR's lines."""


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


class ReplicationControl(Protocol[SessionT_contra]):
    """REPLICAOF, ROLE, WAIT, REPLCONF, PSYNC and INFO replication reach replication so."""

    def replicaof(self, host: str | None, port: int) -> Reply:
        """Follow the primary at ``host``:``port``; None: stop following (REPLICAOF NO ONE)."""
        ...

    def role(self) -> Reply: ...

    def wait(self, session: SessionT_contra, replicas: int, timeout_ms: int) -> Reply:
        """WAIT: the count now, or no reply yet (it is pushed to the session later)."""
        ...

    def replconf(self, session: SessionT_contra, args: Sequence[bytes]) -> Reply: ...

    def psync(self, session: SessionT_contra, replid: str, offset: int) -> Reply: ...

    def info(self) -> dict[str, str | int]:
        """``INFO replication``, Redis's fields in Redis's order."""
        ...

    def stats(self) -> dict[str, str | int]:
        """The replication counters of ``INFO stats`` (sync_full, sync_partial_ok/err)."""
        ...
