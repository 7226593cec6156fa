"""The server as commands see it (SHUTDOWN, CONFIG SET) and the hooks applying run-time changes.

Each option marked ``runtime=True`` in :mod:`kvstore.config` gets a hook here that makes the
running server act on its new value at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kvstore.config import ServerConfig, parse_output_limit
from kvstore.config_runtime import RuntimeConfig
from kvstore.server.protection import is_protected

if TYPE_CHECKING:
    from kvstore.server.app import Server

log = logging.getLogger("kvstore.server")


class Control:
    """Installed as ``ServerState.control``: see ``kvstore.commands.control.ServerControl``."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.runtime = RuntimeConfig(server.config)
        install_hooks(self.runtime, server)

    def shutdown(self, save: bool | None) -> None:
        mode = {None: "", True: " SAVE", False: " NOSAVE"}[save]
        log.info("SHUTDOWN%s received", mode)
        self._server.request_stop(save)

    def config_set(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.runtime.set(pairs)
        log.info("CONFIG SET %s", ", ".join(name for name, _ in pairs))


def install_hooks(runtime: RuntimeConfig, server: Server) -> None:
    def log_level(config: ServerConfig) -> None:
        logging.getLogger().setLevel(config.log_level.upper())

    def protection(config: ServerConfig) -> None:
        server.protected = is_protected(config.protected_mode == "yes", bool(config.requirepass))

    def password(config: ServerConfig) -> None:
        # New connections must authenticate; those already in stay in, as with Redis.
        config.requirepass_file = ""
        server.state.requirepass = config.requirepass.encode() or None
        protection(config)

    def appendfsync(config: ServerConfig) -> None:
        if server.persistence is not None:
            server.persistence.set_fsync_policy(config.appendfsync)

    def compaction(config: ServerConfig) -> None:
        if server.persistence is not None:
            server.persistence.growth_percent = config.auto_aof_rewrite_percentage
            server.persistence.min_size = config.auto_aof_rewrite_min_size

    def output_limit(config: ServerConfig) -> None:
        # Applies to every client at its next write or the next sweep, as with Redis.
        server.output_limit = parse_output_limit(config.client_output_buffer_limit)

    def slowlog(config: ServerConfig) -> None:
        server.dispatcher.configure_slowlog(config.slowlog_log_slower_than, config.slowlog_max_len)

    runtime.on_change("log_level", log_level)
    runtime.on_change("slowlog_log_slower_than", slowlog)
    runtime.on_change("slowlog_max_len", slowlog)
    runtime.on_change("requirepass", password)
    runtime.on_change("protected_mode", protection)
    runtime.on_change("appendfsync", appendfsync)
    runtime.on_change("auto_aof_rewrite_percentage", compaction)
    runtime.on_change("auto_aof_rewrite_min_size", compaction)
    runtime.on_change("client_output_buffer_limit", output_limit)
