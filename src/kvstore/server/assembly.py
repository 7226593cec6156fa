"""The one place the server is built: every part made once, from the configuration.

:func:`assemble` binds the listening sockets, builds the keyspace (one that can evict, under
``--maxmemory``), opens persistence (recovering the data into the keyspace), builds the command
table (guarded under ``--maxmemory``), the statistics, the one dispatcher (configured once),
the server state commands see, the controls of SHUTDOWN and CONFIG SET, and the context each
connection is given; then hands them to a :class:`~kvstore.server.app.Server`. No part is
replaced or patched afterwards: CONFIG SET changes values through the hooks installed here.

A SET arrives at a connection, which runs it through the dispatcher: the handler changes the
keyspace, then the dispatcher has the journal record it. The journal's flush makes it durable
and tells the held-replies gate, which has the connections write the replies they kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable

from kvstore.build import HiredisMissingError, parser_in_use, use_hiredis
from kvstore.cluster.membership import EtcdMembership
from kvstore.cluster.startup import ClusterSetupError, starting_view
from kvstore.cluster.view import TopologyView
from kvstore.commands import COMMANDS, Command, CommandStats, Dispatcher, ServerState
from kvstore.commands.cluster_guard import ClusterGuard
from kvstore.commands.memory import guarded_table
from kvstore.commands.notifications import Notifier
from kvstore.commands.tracking import wrap_table
from kvstore.config import ServerConfig, parse_output_limit
from kvstore.config.events import EVICTED, EXPIRED, parse_flags
from kvstore.config.options import parse_pubsub_output_limit
from kvstore.config.runtime import RuntimeConfig
from kvstore.eviction import EvictingKeyspace, MemoryGuard, pin_mmap_threshold, resident_bytes
from kvstore.keyspace import Databases, Keyspace
from kvstore.persistence import Persistence, PersistenceSettings, RecoveryError
from kvstore.protocol import RequestLimits
from kvstore.replication import Replication
from kvstore.server.app import Server
from kvstore.server.context import ConnectionContext
from kvstore.server.control import Control, StopRequest, apply_latency_settings, install_hooks
from kvstore.server.guards import fit_maxclients
from kvstore.server.held import HeldReplies
from kvstore.server.listeners import Listener, StartupError, bind_listeners, close_listeners
from kvstore.server.migration import Transfers
from kvstore.server.paused import PausedClients
from kvstore.server.protection import Admission, is_loopback_peer, is_protected
from kvstore.server.registry import Registry
from kvstore.server.tls import TLSSetupError, server_context

log = logging.getLogger("kvstore.server")


async def assemble(config: ServerConfig) -> Server:
    """Build the server for ``config`` on the running loop, ready to :meth:`~Server.start`;
    StartupError (one line) when it cannot be."""
    try:
        use_hiredis(config.parser)  # refuse --parser hiredis without it, before anything starts
    except HiredisMissingError:
        raise StartupError("--parser hiredis: the hiredis package is not installed") from None
    maxclients = fit_maxclients(config.maxclients)
    # CONFIG GET and INFO report the limit enforced, as Redis does, not the one asked for.
    config.maxclients = maxclients
    admission = Admission(is_protected(config.protected_mode == "yes", bool(config.requirepass)))
    listeners = bind_listeners(config, _tls_context(config))
    for listener in listeners:
        name = listener.sock.getsockname()
        if admission.protected and not is_loopback_peer(name):
            _warn_protected(name[0])
    try:
        cluster, membership = _cluster_view(config)
        if cluster is not None and membership is None:
            _follow_file_primary(config, cluster)
        db, guard = _keyspace(config)
        held = None if config.no_persist else HeldReplies()
        persistence = None if held is None else _open_persistence(config, db, held)
    except BaseException:
        close_listeners(listeners)
        raise
    journal = None if persistence is None else persistence.journal
    table = COMMANDS if guard is None else guarded_table(COMMANDS, guard)
    stats = CommandStats()
    dispatcher = Dispatcher(
        table,
        stats=stats,
        journal=journal,
        slowlog_log_slower_than=config.slowlog_log_slower_than,
        slowlog_max_len=config.slowlog_max_len,
    )
    apply_latency_settings(config, dispatcher)
    if persistence is not None:
        persistence.log.latency = stats.latency.add_if_needed
    if guard is not None:
        guard.on_cycle = functools.partial(stats.latency.add_if_needed, "eviction-cycle")
    stop = StopRequest()
    runtime = RuntimeConfig(config)
    state = ServerState(
        dbs=db,
        journal=journal,
        settings=config.settings,
        requirepass=config.requirepass.encode() or None,
        stats=stats,
        runner=dispatcher,
        monitors_changed=dispatcher.monitors_changed,
        memory_guard=guard,
        persistence=persistence,
        control=Control(runtime, stop),
        cluster=cluster,
        transfer=Transfers(asyncio.get_running_loop()),
    )
    if cluster is not None:
        dispatcher.guard_with(
            ClusterGuard(cluster, lambda name: table.get(name.lower())).refusal, cluster
        )
    registry = Registry(
        state, maxclients, parse_output_limit(config.client_output_buffer_limit), guard
    )
    registry.pubsub_output_limit = parse_pubsub_output_limit(config.client_output_buffer_limit)
    replication = Replication(
        config,
        state=state,
        dispatcher=dispatcher,
        persistence=persistence,
        listening_port=_plain_port(listeners, config),
        loop=asyncio.get_running_loop(),
    )
    state.replication = replication
    if membership is not None:
        membership.attach(replication)  # a replica follows its shard's leader, one leads
    _keyspace_events(runtime, state, dispatcher, replication)
    _replication_settings(runtime, replication)
    registry.request_limits = RequestLimits(
        max_bulk_len=config.proto_max_bulk_len,
        max_args=config.proto_max_args,
        max_query_buffer=config.client_query_buffer_limit,
    )
    install_hooks(
        runtime,
        state=state,
        dispatcher=dispatcher,
        admission=admission,
        registry=registry,
        persistence=persistence,
    )
    context = ConnectionContext(
        state=state,
        dispatcher=dispatcher,
        registry=registry,
        admission=admission,
        request_limits=RequestLimits(
            max_bulk_len=config.proto_max_bulk_len,
            max_args=config.proto_max_args,
            max_query_buffer=config.client_query_buffer_limit,
        ),
        use_hiredis=parser_in_use(config.parser) == "hiredis",
        held=held,
        paused=PausedClients(state),
        replication=replication,
    )
    return Server(
        config,
        context=context,
        listeners=listeners,
        persistence=persistence,
        replication=replication,
        stop=stop,
        cluster=membership,
    )


def _plain_port(listeners: list[Listener], config: ServerConfig) -> int:
    """The port replicas announce to their primary (INFO and ROLE show it there)."""
    for listener in listeners:
        if listener.tls is None:
            return int(listener.sock.getsockname()[1])
    return config.tls_port


def _replication_settings(runtime: RuntimeConfig, replication: Replication) -> None:
    def backlog(config: ServerConfig) -> None:
        replication.resize_backlog(config.repl_backlog_size)

    def guards(config: ServerConfig) -> None:
        replication.on_mode_change()

    runtime.on_change("repl_backlog_size", backlog)
    runtime.on_change("sync_replicas", lambda config: replication.apply_sync_replicas())
    for name in ("replica_read_only", "replica_serve_stale_data", "min_replicas_to_write"):
        runtime.on_change(name, guards)


def _keyspace_events(
    runtime: RuntimeConfig, state: ServerState, dispatcher: Dispatcher, replication: Replication
) -> None:
    """Keyspace notifications (``notify-keyspace-events``, now and at each CONFIG SET),
    client-side caching (while any client tracks) and replication's guards (a read-only
    replica, ``min-replicas-to-write``): the dispatcher then runs the commands concerned
    wrapped (tracking's wrapper outside, as it may add invalidations after a reply;
    replication's inside, as a refused write must change nothing), and the keyspace reports
    expired and evicted keys. Keys that expire are also recorded in the log (so replicas drop
    them) whenever there is one. With none of these on, the dispatcher runs the plain table
    and the keyspace reports nothing."""
    notifier = Notifier(state)
    tracker = state.tracker

    def hook(db: Keyspace) -> Callable[[str, bytes], None]:
        def removed(event: str, key: bytes) -> None:
            if event == "expired":
                replication.expired(key, db)
            if notifier.active:
                notifier.keyspace_event(event, key, db.index)
            if tracker.active:
                tracker.invalidate([key], None)

        return removed

    hooks = [(db, hook(db)) for db in state.dbs]

    def refresh() -> None:
        wrappers = []
        if replication.guards_commands:
            wrappers.append(replication.wrap_table)
        if notifier.active:
            wrappers.append(notifier.wrap_table)
        if tracker.active:
            wrappers.append(functools.partial(wrap_table, tracker))

        def wrap(table: dict[bytes, Command]) -> dict[bytes, Command]:
            for wrapper in wrappers:
                table = wrapper(table)
            return table

        dispatcher.run_wrapped(wrap if wrappers else None)
        reports = notifier.active and notifier.flags & (EXPIRED | EVICTED)
        on = reports or tracker.active or replication.journal is not None
        for db, removed in hooks:
            db.notify = removed if on else None

    def configure(config: ServerConfig) -> None:
        notifier.configure(parse_flags(config.notify_keyspace_events))
        tracker.max_keys = config.tracking_table_max_keys
        refresh()

    tracker.on_change = refresh
    replication.on_mode_change = refresh
    configure(runtime.config)
    runtime.on_change("notify_keyspace_events", configure)
    runtime.on_change("tracking_table_max_keys", configure)


def _cluster_view(
    config: ServerConfig,
) -> tuple[TopologyView | None, EtcdMembership | None]:
    """In cluster mode (``--cluster-enabled``), the topology this node starts from, and what
    follows etcd (with ``--cluster-etcd-endpoints``)."""
    if not config.cluster_enabled:
        return None, None
    try:
        return starting_view(config)
    except ClusterSetupError as exc:
        raise StartupError(str(exc)) from None


def _follow_file_primary(config: ServerConfig, cluster: TopologyView) -> None:
    """A replica named in a topology file replicates its shard's primary (unless told to
    follow another node)."""
    shard = cluster.my_shard()
    primary = None if shard is None else shard.primary
    if primary is not None and primary.id != cluster.my_id and not config.replicaof:
        config.replicaof = f"{primary.host or '127.0.0.1'} {primary.port}"


def _tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    if not config.tls_port:
        return None
    try:
        return server_context(config)
    except TLSSetupError as exc:
        raise StartupError(str(exc)) from None


def _warn_protected(host: str) -> None:
    log.warning(
        "protected mode: bound to %s with no password, so only loopback clients are "
        "served; set --requirepass, or --protected-mode no if every host that can reach "
        "this address is trusted",
        host,
    )


def _keyspace(config: ServerConfig) -> tuple[Databases, MemoryGuard | None]:
    """The databases; under ``--maxmemory`` keyspaces that can evict, and the guard of
    writes (which evicts from every database)."""
    if not config.maxmemory:
        return Databases(config.databases), None
    pin_mmap_threshold()
    db = Databases(config.databases, lambda: EvictingKeyspace(config.maxmemory_policy))
    guard = MemoryGuard(db, config.maxmemory, resident_bytes())
    if guard.used_memory() >= config.maxmemory:
        log.warning(
            "maxmemory %d is below the server's own footprint (%d bytes resident): every "
            "write that needs memory will be refused",
            config.maxmemory,
            guard.baseline,
        )
    return db, guard


def persistence_settings(config: ServerConfig) -> PersistenceSettings:
    """What persistence reads of the configuration."""
    return PersistenceSettings(
        dir=config.dir,
        appendfsync=config.appendfsync,
        auto_aof_rewrite_percentage=config.auto_aof_rewrite_percentage,
        auto_aof_rewrite_min_size=config.auto_aof_rewrite_min_size,
        fast_replay=use_hiredis(config.parser),
    )


def _open_persistence(config: ServerConfig, db: Databases, held: HeldReplies) -> Persistence:
    """Recover the data directory into ``db`` and open the log, which tells ``held`` when the
    replies it keeps may go."""
    persistence = Persistence(persistence_settings(config), db, listener=held)
    try:
        persistence.open(asyncio.get_running_loop())
    except RecoveryError as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(
            f"cannot use the data directory {persistence.directory}: {exc.strerror or exc}"
        ) from None
    return persistence
