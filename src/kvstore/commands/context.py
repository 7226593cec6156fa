"""What a command handler can see besides its arguments: its connection and the server."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kvstore import __version__, build
from kvstore.commands import session_fields
from kvstore.commands.pause_state import ClientPause
from kvstore.commands.ports import (
    ClientPeer,
    ClusterView,
    Journal,
    PersistenceControl,
    ReplicationControl,
    Runner,
    ServerControl,
    Transfer,
)
from kvstore.commands.pubsub_hub import PubSubHub, PushFn
from kvstore.commands.stats import CommandStats
from kvstore.commands.tracking_state import Tracker, TrackingState
from kvstore.eviction import MemoryGuard
from kvstore.keyspace import Databases, Keyspace, Watch, wall_clock_ms
from kvstore.protocol.replies import Replies

if TYPE_CHECKING:  # the two builds' classes have one interface: the pure module's
    from kvstore.commands.session_fields import SessionFields
else:  # the build in use (kvstore.build): session_fields.py compiled with Cython, or itself
    SessionFields = build.choose(session_fields).SessionFields

VERSION = __version__

_session_ids = itertools.count(1)


@dataclass
class ServerState:
    """State shared by every connection: the table, the registry of sessions, settings that
    commands read (``CONFIG GET``), counters, and what commands reach above their layer.

    The server's assembly builds it once, with everything in place; nothing is set later."""

    #: The numbered databases (SELECT); every session starts in database 0.
    dbs: Databases = field(default_factory=Databases)
    sessions: dict[int, Session] = field(default_factory=dict)
    #: Settings as ``CONFIG GET`` shows them: name to value, both text.
    settings: Callable[[], dict[str, str]] = dict
    started_ms: int = field(default_factory=wall_clock_ms)
    total_connections: int = 0
    #: Connections turned away because ``--maxclients`` were already connected.
    rejected_connections: int = 0
    #: Bytes the clients' buffers hold (unsent replies, unparsed requests), as last counted
    #: by the server; part of ``used_memory``.
    clients_memory: int = 0
    #: Clients disconnected for passing ``client-output-buffer-limit``.
    output_limit_disconnections: int = 0
    #: The password clients must give with AUTH (or HELLO AUTH); ``None``: no password.
    requirepass: bytes | None = None
    #: The counters the dispatcher keeps (the same object): INFO, SLOWLOG and the metrics
    #: page read them.
    stats: CommandStats = field(default_factory=CommandStats)
    #: The dispatcher serving this state: EXEC runs its queue through it.
    runner: Runner[Session] | None = None
    #: The log, for commands that change other databases than their session's (None with
    #: persistence off): see ``Journal.record_other_db``.
    journal: Journal | None = None
    #: The sessions in MONITOR mode, and who must know when that list changes (the
    #: dispatcher, which then runs every request through its monitoring path or stops).
    monitors: list[Session] = field(default_factory=list)
    monitors_changed: Callable[[list[Session]], None] | None = None
    #: The memory limit's keeper (None: started without ``--maxmemory``).
    memory_guard: MemoryGuard | None = None
    #: SAVE, BGSAVE and friends reach persistence through this (None with it off).
    persistence: PersistenceControl | None = None
    #: SHUTDOWN and CONFIG SET reach the running server through this.
    control: ServerControl | None = None
    #: REPLICAOF, ROLE, WAIT, PSYNC and INFO replication reach replication through this.
    replication: ReplicationControl[Session] | None = None
    #: Publish/subscribe: every connection's subscriptions.
    pubsub: PubSubHub = field(default_factory=PubSubHub)
    #: MIGRATE's network transfers (None: a bare state in tests, where MIGRATE is refused).
    transfer: Transfer | None = None
    #: The cluster's topology in cluster mode (``--cluster-enabled``); None outside it.
    cluster: ClusterView | None = None
    #: CLIENT PAUSE: the server's connections hold requests while it is on.
    pause: ClientPause = field(default_factory=ClientPause)
    #: Connections holding a request for the pause to end (INFO ``blocked_clients``).
    paused_clients: int = 0
    #: Client-side caching: the keys tracking clients read (CLIENT TRACKING).
    tracker: Tracker = field(init=False)

    def __post_init__(self) -> None:
        self.tracker = Tracker(self.sessions)
        self.pause.watch(self._pause_changed)

    def _pause_changed(self, pause: ClientPause) -> None:
        self.dbs.pause_expiry(bool(pause.mode))


@dataclass(eq=False, slots=True)
class Session(SessionFields):
    """One client connection, as the commands see it. What the dispatcher reads on every
    request is in :class:`SessionFields` (C fields in the compiled build); the rest are
    slots, found faster than an instance dictionary's entries."""

    server: ServerState
    addr: str = ""
    laddr: str = ""
    transport: str = "resp"  # "resp" or "text": how the client talks
    id: int = field(default_factory=lambda: next(_session_ids))
    name: bytes = b""
    lib_name: bytes = b""
    lib_ver: bytes = b""
    created_ms: int = field(default_factory=wall_clock_ms)
    #: A command was refused while queueing: EXEC discards the transaction.
    transaction_failed: bool = False
    #: The keys this connection WATCHes; None until its first WATCH.
    watch: Watch | None = None
    #: Writes a push (a pub/sub message) to this connection, outside any reply; set by RESP
    #: connections only (None: this connection cannot subscribe).
    push: PushFn | None = None
    #: This connection's subscriptions; None while it has none.
    subscriptions: Subscriptions | None = None
    #: CLIENT TRACKING's options while it is on (None: off).
    tracking: TrackingState | None = None
    #: The connection, for CLIENT LIST and CLIENT KILL (None: a session without one, in tests).
    peer: ClientPeer | None = None
    #: CLIENT NO-EVICT: shown in CLIENT LIST (kvstore evicts keys, never clients).
    no_evict: bool = False
    #: Cluster mode: ASKING was sent, so the next command may use a slot being imported.
    asking: bool = False
    #: Cluster mode: READONLY was sent, so a replica serves reads of its primary's slots.
    readonly: bool = False
    #: Replies SKIP still drops (its own, then the next); 0 while muted: OFF (``muted``,
    #: CLIENT REPLY OFF or SKIP in force, is one of the SessionFields).
    replies_to_skip: int = 0
    #: A blocking command (WAIT) answers later: the connection keeps the requests after it
    #: until :meth:`unblock`, so that replies stay in order. ``on_unblocked`` is the
    #: connection's hook (set by RESP connections; None: the reply simply comes later).
    blocked: bool = False
    on_unblocked: Callable[[], None] | None = None
    #: EXEC is running the transaction's commands (a blocking command does not block then).
    in_exec: bool = False
    #: This session applies the primary's stream on a replica: its writes are the primary's
    #: and run whatever the replica's own memory limit (as Redis's replica-ignore-maxmemory).
    applies_stream: bool = False
    #: A write ran under synchronous acknowledgement: the connection holds the replies of
    #: this read until a replica acknowledges it (set by replication's write guard).
    awaits_ack: bool = False

    #: The database this session has selected (SELECT), kept here because every data command
    #: reaches for it: one attribute read, whatever the number of databases.
    db: Keyspace = field(init=False)

    def __post_init__(self) -> None:
        self.db = self.server.dbs[0]
        # The fields of SessionFields (the dispatcher's, per request): see that class.
        self.protocol = 2
        self.authenticated = self.server.requirepass is None
        self.queued = None
        self.last_command = ""
        self.close_after_reply = False
        self.reply_suppressed = False
        self.muted = False

    def block(self) -> bool:
        """The command running answers later (by :attr:`push`): end the read's loop after it
        and hold the connection's later requests until :meth:`unblock`, as Redis blocks a
        client. False where the connection cannot hold them (no hook, or inside EXEC, where
        Redis does not block either): the reply then just comes when it comes."""
        if self.on_unblocked is None or self.in_exec:
            return False
        self.blocked = True
        # The read's loop (Dispatcher.answer) stops after a reply that ends the session; the
        # connection tells the two apart by ``blocked``.
        self.close_after_reply = True
        self.reply_suppressed = True
        return True

    def unblock(self) -> None:
        """The blocked command's reply was pushed: run the requests kept behind it."""
        self.blocked = False
        hook = self.on_unblocked
        if hook is not None:
            hook()

    def drops_reply(self, reply: object) -> bool:
        """Whether the reply to the request just run is dropped (CLIENT REPLY OFF or SKIP).
        Confirmations of (un)subscriptions are pushes, sent whatever the mode, as Redis."""
        if self.replies_to_skip:
            self.replies_to_skip -= 1
            self.muted = self.replies_to_skip > 0
        return type(reply) is not Replies

    def subscribed_to(self, channel: bytes) -> bool:
        return self.subscriptions is not None and channel in self.subscriptions.channels

    def release(self) -> None:
        """The connection is gone: drop its watched keys, subscriptions and any open
        transaction."""
        if self.watch is not None:
            self.db.unwatch(self.watch)
        if self.subscriptions is not None:
            self.subscriptions.drop(self.server.pubsub, self)
            self.subscriptions = None
        if self.tracking is not None:
            self.server.tracker.disable(self)
        self.queued = None
        self.peer = None
        self.stop_monitoring()

    def stop_monitoring(self) -> None:
        """Leave MONITOR mode, if in it (the connection closed, or RESET)."""
        monitors = self.server.monitors
        if self in monitors:
            monitors.remove(self)
            if self.server.monitors_changed is not None:
                self.server.monitors_changed(monitors)


@dataclass
class Subscriptions:
    """What one connection is subscribed to (dicts as ordered sets)."""

    channels: dict[bytes, None] = field(default_factory=dict)
    patterns: dict[bytes, None] = field(default_factory=dict)
    shard_channels: dict[bytes, None] = field(default_factory=dict)

    def drop(self, hub: PubSubHub, who: Session) -> None:
        for channel in self.channels:
            hub.remove(hub.channels, channel, who)
        for pattern in self.patterns:
            hub.remove(hub.patterns, pattern, who)
        for channel in self.shard_channels:
            hub.remove(hub.shard_channels, channel, who)
