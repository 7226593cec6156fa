"""The server: listening sockets, the registry of connections, timers and shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal

from kvstore.commands import COMMANDS, VERSION, Dispatcher, ServerState
from kvstore.commands.memory import guarded_table
from kvstore.config import ServerConfig
from kvstore.eviction import (
    EvictingKeyspace,
    MemoryGuard,
    pin_mmap_threshold,
    resident_bytes,
)
from kvstore.protocol import RequestLimits, hiredis_available
from kvstore.server.connection import ClientConnection
from kvstore.server.guards import RateLimitedLog, fit_maxclients

log = logging.getLogger("kvstore.server")

#: How often expired keys nobody reads are reclaimed (Redis's default hz is 10).
EXPIRE_CYCLE_SECONDS = 0.1
#: How long a graceful shutdown waits for connections to flush before cutting them.
SHUTDOWN_GRACE_SECONDS = 5.0


class StartupError(Exception):
    """The server cannot start (an address in use, say); the message is one line."""


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state = ServerState(settings=config.settings)
        self.dispatcher = Dispatcher()
        self.use_hiredis = config.parser == "hiredis" or (
            config.parser == "auto" and hiredis_available()
        )
        self.connections: set[ClientConnection] = set()
        self.addresses: list[str] = []
        self._listeners: list[asyncio.Server] = []
        self._stopping = asyncio.Event()
        self._expire_timer: asyncio.TimerHandle | None = None
        # -- limits (docs/security.md) --
        self.maxclients = config.maxclients
        self.request_limits = RequestLimits(
            max_bulk_len=config.proto_max_bulk_len,
            max_args=config.proto_max_args,
            max_query_buffer=config.client_query_buffer_limit,
        )
        #: A coarse monotonic clock in seconds, advanced by the periodic cycle: connections
        #: stamp their reads with it at the cost of one attribute read.
        self.now = 0.0
        self._next_idle_sweep = 0.0
        self.rejected_connections = 0
        self.output_disconnections = 0
        self._log_full = RateLimitedLog(logging.WARNING)
        self._log_http = RateLimitedLog(logging.WARNING)
        self._log_output = RateLimitedLog(logging.WARNING)
        self.memory_guard: MemoryGuard | None = None
        if config.maxmemory:
            self._limit_memory()

    def _limit_memory(self) -> None:
        """Under ``--maxmemory``: a keyspace that can evict, and write commands guarded."""
        pin_mmap_threshold()
        db = EvictingKeyspace(self.config.maxmemory_policy)
        self.state.db = db
        self.memory_guard = MemoryGuard(db, self.config.maxmemory, resident_bytes())
        self.dispatcher = Dispatcher(guarded_table(COMMANDS, self.memory_guard))
        if self.memory_guard.used_memory() >= self.config.maxmemory:
            log.warning(
                "maxmemory %d is below the server's own footprint (%d bytes resident): every "
                "write that needs memory will be refused",
                self.config.maxmemory,
                self.memory_guard.baseline,
            )

    # -- connections -------------------------------------------------------------------------

    def register(self, connection: ClientConnection) -> bool:
        """Admit a new connection; False if the server already holds ``maxclients``."""
        if len(self.connections) >= self.maxclients:
            self.rejected_connections += 1
            self._log_full(
                "refused a client from %s: max number of clients (%d) reached",
                connection.session.addr,
                self.maxclients,
            )
            return False
        self.connections.add(connection)
        self.state.sessions[connection.session.id] = connection.session
        self.state.total_connections += 1
        return True

    def refuse_http(self, addr: str) -> None:
        self._log_http(
            "possible security attack: %s sent HTTP to the server (a web page may be trying "
            "to reach it); connection closed",
            addr,
        )

    def output_overflow(self, addr: str, pending: int) -> None:
        self.output_disconnections += 1
        self._log_output(
            "closed %s: %d bytes of replies it does not read passed "
            "--client-output-buffer-limit (%d)",
            addr,
            pending,
            self.config.client_output_buffer_limit,
        )

    def _close_idle(self) -> None:
        """Close clients that sent nothing for ``--timeout`` seconds (checked once a second)."""
        if self.now < self._next_idle_sweep:
            return
        self._next_idle_sweep = self.now + 1.0
        oldest = self.now - self.config.timeout
        for connection in [c for c in self.connections if c.last_read < oldest]:
            log.info("closing %s: idle for over %ds", connection.session.addr, self.config.timeout)
            connection.close()

    def unregister(self, connection: ClientConnection) -> None:
        self.connections.discard(connection)
        self.state.sessions.pop(connection.session.id, None)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.parser == "hiredis" and not hiredis_available():
            raise StartupError("--parser hiredis: the hiredis package is not installed")
        self.maxclients = fit_maxclients(self.config.maxclients)
        self.now = loop.time()
        for host in self.config.bind:
            try:
                listener = await loop.create_server(
                    lambda: ClientConnection(self),
                    host,
                    self.config.port,
                    reuse_address=True,
                    backlog=4096,
                )
            except OSError as exc:
                self.close_listeners()
                reason = (
                    "address already in use"
                    if exc.errno == errno.EADDRINUSE
                    else exc.strerror or str(exc)
                )
                raise StartupError(
                    f"cannot listen on {host}:{self.config.port}: {reason}"
                ) from None
            self._listeners.append(listener)
            for sock in listener.sockets:
                name = sock.getsockname()
                self.addresses.append(
                    f"[{name[0]}]:{name[1]}" if ":" in name[0] else f"{name[0]}:{name[1]}"
                )
        self._schedule_expire_cycle()

    def banner(self) -> str:
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        parser = "hiredis" if self.use_hiredis else "python"
        return (
            f"kvstore {VERSION} listening on {', '.join(self.addresses)} "
            f"(event loop: {loop}, parser: {parser}, persistence: off)"
        )

    def _schedule_expire_cycle(self) -> None:
        loop = asyncio.get_running_loop()
        self._expire_timer = loop.call_later(EXPIRE_CYCLE_SECONDS, self._expire_cycle)

    def _expire_cycle(self) -> None:
        self.now = asyncio.get_running_loop().time()
        if self.config.timeout:
            self._close_idle()
        self.state.db.expire_cycle()
        self._schedule_expire_cycle()

    def request_stop(self) -> None:
        if self._stopping.is_set():
            log.warning("second stop signal: exiting at once")
            raise SystemExit(1)
        log.info("stop requested: closing connections")
        self._stopping.set()

    def close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    async def serve(self) -> None:
        """Serve until a stop is requested, then shut down in order."""
        await self._stopping.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, let each connection flush its replies, then close it."""
        self.close_listeners()
        if self._expire_timer is not None:
            self._expire_timer.cancel()
        connections = list(self.connections)
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait(
                [connection.closed for connection in connections],
                timeout=SHUTDOWN_GRACE_SECONDS,
            )
            for connection in connections:
                if not connection.closed.done():
                    connection.abort()
        log.info("server stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
