"""What the command layer asks of the layers above it, as protocols: the append-only log,
persistence's controls, the server's controls, replication's, and the runner EXEC sends its
queue through.

A leaf: it imports nothing of the command layer, so every module of it may name these. The
server's assembly hands real objects in (``Dispatcher(journal=...)``, ``ServerState(...)``);
with persistence off, or in a bare dispatcher in tests, they are None and cost one ``is None``
test where they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


class Transfer(Protocol):
    """MIGRATE's network part, done by the server in a task of its own (a command never
    waits): see :mod:`kvstore.server.migration`."""

    @property
    def cached(self) -> int:
        """Idle connections to targets kept for the next MIGRATE (INFO stats)."""
        ...

    def send(
        self,
        host: str,
        port: int,
        *,
        timeout_ms: int,
        request: bytes,
        replies: int,
        done: Callable[[list[bytes], str], None],
    ) -> None:
        """Connect to ``host``:``port``, write ``request`` (RESP commands) and read
        ``replies`` one-line replies, each step within ``timeout_ms``; then call ``done`` on
        the event loop with the lines read (CRLF removed) and what failed, if anything:
        ``connecting``, ``writing`` or ``reading`` ("" once every reply was read)."""


class ClusterMember(Protocol):
    """A node of the cluster, as CLUSTER NODES, SLOTS and SHARDS and redirections show it."""

    @property
    def id(self) -> str:
        """Its node ID: 40 hexadecimal digits, stable across restarts."""
        ...

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def role(self) -> str:
        """``primary`` or ``replica``."""
        ...


class ClusterShard(Protocol):
    """A primary with its replicas, the slot ranges they serve and the slots on the move."""

    @property
    def id(self) -> str: ...

    @property
    def slots(self) -> Sequence[tuple[int, int]]:
        """Inclusive ranges of slots, as CLUSTER SLOTS gives them."""
        ...

    @property
    def members(self) -> Sequence[ClusterMember]: ...

    @property
    def epoch(self) -> int:
        """The shard's configuration epoch (its leadership's generation)."""
        ...

    @property
    def migrating(self) -> Mapping[int, str]:
        """Slots leaving this shard, each to the ID of the shard taking it (ASK)."""
        ...

    @property
    def importing(self) -> Mapping[int, str]:
        """Slots arriving at this shard, each from the ID of the shard giving it (ASKING)."""
        ...

    @property
    def primary(self) -> ClusterMember | None: ...


class ClusterView(Protocol):
    """The cluster's topology as this node sees it, read-only: whoever keeps it (a single
    node, a topology file, the metadata store's watcher) swaps in new states; commands only
    read. See docs/cluster.md."""

    @property
    def my_id(self) -> str: ...

    @property
    def epoch(self) -> int:
        """The cluster's current epoch: the highest of its shards'."""
        ...

    @property
    def shards(self) -> Sequence[ClusterShard]: ...

    def owner(self, slot: int) -> ClusterShard | None:
        """The shard serving ``slot`` (None: no one does)."""
        ...

    def my_shard(self) -> ClusterShard | None:
        """The shard this node is a member of (None: none yet)."""
        ...

    @property
    def served_here(self) -> bytes:
        """Per slot, 1 where this node is the primary of the slot's shard and the slot is not
        being moved: a request whose keys all fall there needs no other check (a write still
        needs :attr:`writable`)."""
        ...

    @property
    def writable(self) -> bool:
        """Whether this node may accept writes now: false for a primary whose leadership
        lapsed (it could not renew its lease in time), see docs/cluster.md."""
        ...


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
