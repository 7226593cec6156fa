"""The server as commands see it (SHUTDOWN, CONFIG SET), the stop request, and the hooks that
apply run-time changes.

Each option marked ``runtime=True`` in :mod:`kvstore.config` gets a hook here that makes the
running server act on its new value at once; the hooks are given the parts they change, not
the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Callable, Sequence

from kvstore.commands import Dispatcher, ServerState
from kvstore.commands.memory import make_room
from kvstore.config import ServerConfig
from kvstore.config.options import parse_output_limits, parse_percentiles
from kvstore.config.runtime import RuntimeConfig
from kvstore.persistence import Persistence
from kvstore.server.guards import fit_maxclients
from kvstore.server.protection import Admission, is_protected
from kvstore.server.registry import Registry

log = logging.getLogger("kvstore.server")


class StopRequest:
    """A graceful stop asked for (a signal, SHUTDOWN), and SHUTDOWN's choice of snapshot."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        #: None snapshots when persistence is on (as a signal does); False skips it.
        self.save: bool | None = None

    def signal(self, signum: int) -> None:
        """SIGTERM or SIGINT: stop as SHUTDOWN does, naming the signal (a container's or
        service manager's stop is then told from a crash)."""
        if not self.event.is_set():
            log.info("received %s, shutting down", signal.Signals(signum).name)
        self()

    def __call__(self, save: bool | None = None) -> None:
        if self.event.is_set():
            log.warning("second stop signal: exiting at once")
            raise SystemExit(1)
        log.info("stop requested: closing connections")
        self.save = save
        self.event.set()


class Control:
    """Given to ``ServerState.control``: see ``kvstore.commands.ports.ServerControl``."""

    def __init__(self, runtime: RuntimeConfig, stop: Callable[[bool | None], None]) -> None:
        self.runtime = runtime
        self._stop = stop

    def shutdown(self, save: bool | None) -> None:
        mode = {None: "", True: " SAVE", False: " NOSAVE"}[save]
        log.info("SHUTDOWN%s received", mode)
        self._stop(save)

    def config_set(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.runtime.set(pairs)
        log.info("CONFIG SET %s", ", ".join(name for name, _ in pairs))


def apply_latency_settings(config: ServerConfig, dispatcher: Dispatcher) -> None:
    """The latency monitor's threshold and latency tracking, at start-up and on CONFIG SET."""
    stats = dispatcher.stats
    stats.latency.threshold_ms = config.latency_monitor_threshold
    stats.latency_tracking = config.latency_tracking == "yes"
    stats.info_percentiles = parse_percentiles(config.latency_tracking_info_percentiles)
    dispatcher.configure_slowlog()


def install_hooks(
    runtime: RuntimeConfig,
    *,
    state: ServerState,
    dispatcher: Dispatcher,
    admission: Admission,
    registry: Registry,
    persistence: Persistence | None,
) -> None:
    def log_level(config: ServerConfig) -> None:
        logging.getLogger().setLevel(config.log_level.upper())

    def protection(config: ServerConfig) -> None:
        admission.protected = is_protected(config.protected_mode == "yes", bool(config.requirepass))

    def password(config: ServerConfig) -> None:
        # New connections must authenticate; those already in stay in, as with Redis.
        config.requirepass_file = ""
        state.requirepass = config.requirepass.encode() or None
        protection(config)

    def appendfsync(config: ServerConfig) -> None:
        if persistence is not None:
            persistence.set_fsync_policy(config.appendfsync)

    def compaction(config: ServerConfig) -> None:
        if persistence is not None:
            persistence.growth_percent = config.auto_aof_rewrite_percentage
            persistence.min_size = config.auto_aof_rewrite_min_size

    def output_limit(config: ServerConfig) -> None:
        # Applies to every client at its next write or the next sweep, as with Redis.
        limits = parse_output_limits(config.client_output_buffer_limit)
        registry.output_limit, registry.pubsub_output_limit = limits

    def slowlog(config: ServerConfig) -> None:
        dispatcher.configure_slowlog(config.slowlog_log_slower_than, config.slowlog_max_len)

    def latency(config: ServerConfig) -> None:
        apply_latency_settings(config, dispatcher)

    def maxclients(config: ServerConfig) -> None:
        # As Redis: the clients already connected stay; new ones are counted against it.
        config.maxclients = fit_maxclients(config.maxclients)
        registry.maxclients = config.maxclients

    def request_limits(config: ServerConfig) -> None:
        limits = dataclasses.replace(
            registry.request_limits,
            max_bulk_len=config.proto_max_bulk_len,
            max_query_buffer=config.client_query_buffer_limit,
        )
        registry.request_limits = limits
        for connection in list(registry.connections):
            connection.apply_limits(limits)

    def at_least(least: int) -> Callable[[object], str | None]:
        # Redis's ranges for CONFIG SET (the flags may go lower, for tests and small machines).
        def check(value: object) -> str | None:
            if isinstance(value, int) and value < least:
                return f"argument must be between {least} and 9223372036854775807 inclusive"
            return None

        return check

    guard = registry.memory_guard

    def can_limit_memory(value: object) -> str | None:
        if guard is None and value:
            return (
                "kvstore was started without maxmemory, so it keeps no eviction data: "
                "restart it with --maxmemory to set a limit"
            )
        return None

    def maxmemory(config: ServerConfig) -> None:
        if guard is None:
            return
        guard.set_limit(config.maxmemory)
        if config.maxmemory and guard.used_memory() > config.maxmemory:
            log.warning(
                "the new maxmemory value set via CONFIG SET (%d) is smaller than the current "
                "memory usage (%d): keys are evicted, or writes refused, as the policy says",
                config.maxmemory,
                guard.used_memory(),
            )
        # As Redis, evict down to the new limit now, not at the next write: a lowered limit
        # frees memory at once, and subscribers hear of the evictions.
        make_room(guard, state.journal)

    def maxmemory_policy(config: ServerConfig) -> None:
        if guard is not None:
            guard.set_policy(config.maxmemory_policy)
            # Over the limit, a policy that may evict does so now (Redis's next command would,
            # whatever it is), and a CONFIG SET naming the limit before the policy evicts too.
            make_room(guard, state.journal)

    runtime.on_change("log_level", log_level)
    runtime.on_change("slowlog_log_slower_than", slowlog)
    runtime.on_change("slowlog_max_len", slowlog)
    runtime.check_with("latency_monitor_threshold", at_least(0))
    for name in ("latency_monitor_threshold", "latency_tracking"):
        runtime.on_change(name, latency)
    runtime.on_change("latency_tracking_info_percentiles", latency)
    runtime.on_change("requirepass", password)
    runtime.on_change("protected_mode", protection)
    runtime.on_change("appendfsync", appendfsync)
    runtime.on_change("auto_aof_rewrite_percentage", compaction)
    runtime.on_change("auto_aof_rewrite_min_size", compaction)
    runtime.on_change("client_output_buffer_limit", output_limit)
    runtime.check_with("maxclients", at_least(1))
    runtime.check_with("proto_max_bulk_len", at_least(1024 * 1024))
    runtime.check_with("client_query_buffer_limit", at_least(1024 * 1024))
    runtime.on_change("maxclients", maxclients)
    runtime.on_change("proto_max_bulk_len", request_limits)
    runtime.on_change("client_query_buffer_limit", request_limits)
    runtime.check_with("maxmemory", can_limit_memory)
    runtime.on_change("maxmemory", maxmemory)
    runtime.on_change("maxmemory_policy", maxmemory_policy)
