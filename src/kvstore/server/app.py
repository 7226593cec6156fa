"""The server: listening sockets, the registry of connections, timers and shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import ssl
from collections.abc import Callable

from kvstore import build
from kvstore.commands import COMMANDS, VERSION, Dispatcher, ServerState
from kvstore.commands.memory import guarded_table
from kvstore.config import ServerConfig, parse_output_limit
from kvstore.eviction import (
    EvictingKeyspace,
    MemoryGuard,
    pin_mmap_threshold,
    resident_bytes,
)
from kvstore.persistence import Persistence, RecoveryError
from kvstore.persistence.journal import LogJournal
from kvstore.protocol import RequestLimits, hiredis_available
from kvstore.protocol.parsers import parser_in_use
from kvstore.server.connection import ClientConnection
from kvstore.server.control import Control
from kvstore.server.guards import RateLimitedLog, fit_maxclients, release_free_memory
from kvstore.server.metrics import MetricsServer
from kvstore.server.metrics_text import CONTENT_TYPE, page_of
from kvstore.server.protection import RefusalLog, is_loopback_peer, is_protected
from kvstore.server.tls import TLSSetupError, server_context

log = logging.getLogger("kvstore.server")

#: How often expired keys nobody reads are reclaimed (Redis's default hz is 10).
EXPIRE_CYCLE_SECONDS = 0.1
#: Unfinished requests dropped (their clients left) worth handing memory back to the system for,
#: and how often at most: the cost of doing it grows with the heap.
RELEASE_AFTER_BYTES = 1024 * 1024
RELEASE_INTERVAL_SECONDS = 1.0
#: The slow cycle's time slice: a quarter of its period, as Redis's.
EXPIRE_SLOW_BUDGET = EXPIRE_CYCLE_SECONDS / 4
#: While a slow cycle ran out of time, a fast cycle of at most 1 ms runs every 2 ms between
#: them (Redis runs it before the loop sleeps, no more often than twice its length).
EXPIRE_FAST_BUDGET = 0.001
EXPIRE_FAST_PERIOD = 0.002
#: How long a graceful shutdown waits for connections to flush before cutting them.
SHUTDOWN_GRACE_SECONDS = 5.0


class StartupError(Exception):
    """The server cannot start (an address in use, say); the message is one line."""


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state = ServerState(settings=config.settings)
        self.state.requirepass = config.requirepass.encode() or None
        #: Turn away clients not on loopback (see server/protection.py); ``is_loopback`` is
        #: the decision, replaceable in tests that cannot reach a non-loopback address.
        self.protected = is_protected(config.protected_mode == "yes", bool(config.requirepass))
        self.is_loopback: Callable[[object], bool] = is_loopback_peer
        self.refusals = RefusalLog()
        self.tls_addresses: list[str] = []
        self.dispatcher = Dispatcher()
        self.state.dispatcher = self.dispatcher
        self.dispatcher.configure_slowlog(config.slowlog_log_slower_than, config.slowlog_max_len)
        self.metrics: MetricsServer | None = None  # --metrics-port: the Prometheus endpoint
        #: The request parser: hiredis, compiled or python (kvstore.protocol.parsers).
        self.parser = parser_in_use(config.parser)
        self.use_hiredis = self.parser == "hiredis"
        self.connections: set[ClientConnection] = set()
        self.addresses: list[str] = []
        self._listeners: list[asyncio.Server] = []
        self._stopping = asyncio.Event()
        self._expire_timer: asyncio.TimerHandle | None = None
        self._fast_expire_timer: asyncio.TimerHandle | None = None
        #: None with --no-persist; else set up by start() (journal too: the connections hold
        #: replies until their writes are in the log).
        self.persistence: Persistence | None = None
        self.journal: LogJournal | None = None
        #: SHUTDOWN's choice: None snapshots when persistence is on (as a signal does).
        self.save_on_stop: bool | None = None
        self.control = Control(self)
        self.state.control = self.control
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
        #: Bytes of unfinished requests whose clients left, since memory was last released.
        self.dropped_request_bytes = 0
        self._next_release = 0.0
        self._next_clients_sweep = 0.0
        self._sweep_queue: list[ClientConnection] = []
        self._sweep_chunk = 1
        self.output_limit = parse_output_limit(config.client_output_buffer_limit)
        self._log_full = RateLimitedLog(logging.WARNING)
        self._log_http = RateLimitedLog(logging.WARNING)
        self._log_output = RateLimitedLog(logging.WARNING)
        self._log_protocol = RateLimitedLog(logging.INFO)
        self._log_idle = RateLimitedLog(logging.INFO)
        self._rate_limited_logs = (
            self._log_full,
            self._log_http,
            self._log_output,
            self._log_protocol,
            self._log_idle,
        )
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
        self.state.dispatcher = self.dispatcher  # EXEC runs its queue through the guarded table
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
            self.state.rejected_connections += 1
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

    def output_overflow(self, addr: str, pending: int, limit: str) -> None:
        self.state.output_limit_disconnections += 1
        self._log_output(
            "closed %s: %d bytes of replies it does not read passed "
            "client-output-buffer-limit (%s)",
            addr,
            pending,
            limit,
        )

    def protocol_error(self, addr: str) -> None:
        self._log_protocol("closing %s: protocol error", addr)

    def add_clients_memory(self, delta: int) -> None:
        """A connection's buffers grew or shrank by ``delta`` bytes since it last said."""
        total = self.state.clients_memory + delta
        self.state.clients_memory = total
        if self.memory_guard is not None:
            self.memory_guard.clients = total

    def _sweep_clients(self) -> None:
        """Once a second: count every client's buffers afresh (replies drain without telling
        anyone) and apply the soft output limit to clients that stopped sending requests. A
        tenth of the clients per cycle, as Redis's clientsCron, so many clients cost no stall."""
        queue = self._sweep_queue
        if not queue:
            if self.now < self._next_clients_sweep:
                return
            self._next_clients_sweep = self.now + 1.0
            queue = self._sweep_queue = list(self.connections)
            self._sweep_chunk = len(queue) // 10 + 1
        for _ in range(min(self._sweep_chunk, len(queue))):
            queue.pop().check_output()

    def _close_idle(self) -> None:
        """Close clients that sent nothing for ``--timeout`` seconds (checked once a second)."""
        if self.now < self._next_idle_sweep:
            return
        self._next_idle_sweep = self.now + 1.0
        oldest = self.now - self.config.timeout
        for connection in [c for c in self.connections if c.last_read < oldest]:
            self._log_idle(
                "closing %s: idle for over %ds", connection.session.addr, self.config.timeout
            )
            connection.close()

    def unregister(self, connection: ClientConnection) -> None:
        self.connections.discard(connection)
        self.state.sessions.pop(connection.session.id, None)
        connection.session.release()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.parser == "hiredis" and not hiredis_available():
            raise StartupError("--parser hiredis: the hiredis package is not installed")
        self.maxclients = fit_maxclients(self.config.maxclients)
        # CONFIG GET and INFO report the limit enforced, as Redis does, not the one asked for.
        self.config.maxclients = self.maxclients
        self.now = asyncio.get_running_loop().time()
        tls_context: ssl.SSLContext | None = None
        if self.config.tls_port:
            try:
                tls_context = server_context(self.config)
            except TLSSetupError as exc:
                raise StartupError(str(exc)) from None
        for host in self.config.bind:
            if self.config.port:  # --port 0: no plain listener
                await self._listen(host, self.config.port, None, self.addresses)
            if tls_context is not None:
                await self._listen(host, self.config.tls_port, tls_context, self.tls_addresses)
        if self.config.metrics_port:
            await self._start_metrics()
        if not self.config.no_persist:
            try:
                self._open_persistence(asyncio.get_running_loop())
            except StartupError:
                self.close_listeners()
                if self.metrics is not None:
                    await self.metrics.close()
                raise
        for listener in self._listeners:
            await listener.start_serving()
        self._schedule_expire_cycle()

    async def _start_metrics(self) -> None:
        metrics = MetricsServer(page_of(self.state), CONTENT_TYPE)
        try:
            await metrics.start(self.config.metrics_bind, self.config.metrics_port)
        except OSError as exc:
            self.close_listeners()
            where = f"{self.config.metrics_bind}:{self.config.metrics_port}"
            raise StartupError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
        self.metrics = metrics
        log.info("metrics on http://%s/metrics", metrics.address)

    async def _listen(
        self, host: str, port: int, tls: ssl.SSLContext | None, addresses: list[str]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            listener = await loop.create_server(
                lambda: ClientConnection(self),
                host,
                port,
                reuse_address=True,
                backlog=4096,
                ssl=tls,
                start_serving=False,  # after the data is loaded
            )
        except OSError as exc:
            self.close_listeners()
            reason = (
                "address already in use"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or str(exc)
            )
            raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
        self._listeners.append(listener)
        for sock in listener.sockets:
            name = sock.getsockname()
            if self.protected and not is_loopback_peer(name):
                self._warn_protected(name)
            addresses.append(f"[{name[0]}]:{name[1]}" if ":" in name[0] else f"{name[0]}:{name[1]}")

    def _warn_protected(self, name: tuple[str, int]) -> None:
        log.warning(
            "protected mode: bound to %s with no password, so only loopback clients are "
            "served; set --requirepass, or --protected-mode no if every host that can reach "
            "this address is trusted",
            name[0],
        )

    def _open_persistence(self, loop: asyncio.AbstractEventLoop) -> None:
        persistence = Persistence(self.config, self.state.db)
        try:
            persistence.open(loop)
        except RecoveryError as exc:
            raise StartupError(str(exc)) from None
        except OSError as exc:
            raise StartupError(
                f"cannot use the data directory {persistence.directory}: {exc.strerror or exc}"
            ) from None
        self.persistence = persistence
        self.journal = persistence.journal
        self.dispatcher.journal = persistence.journal
        self.state.persistence = persistence
        # Keys evicted under --maxmemory are logged as deletions, or a restart would revive them.
        self.state.db.on_evict = persistence.journal.record_deleted

    def banner(self) -> str:
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        where = [", ".join(self.addresses)] if self.addresses else []
        if self.tls_addresses:
            where.append("TLS on " + ", ".join(self.tls_addresses))
        persistence = "off" if self.persistence is None else self.persistence.describe()
        access = "password required" if self.state.requirepass else "no password"
        return (
            f"kvstore {VERSION} listening on {'; '.join(where)} "
            f"(build: {build.BUILD}, event loop: {loop}, parser: {self.parser}, "
            f"persistence: {persistence}, "
            f"protected mode: {'on' if self.protected else 'off'}, {access})"
        )

    def _schedule_expire_cycle(self) -> None:
        loop = asyncio.get_running_loop()
        self._expire_timer = loop.call_later(EXPIRE_CYCLE_SECONDS, self._expire_cycle)

    def _expire_cycle(self) -> None:
        self.now = asyncio.get_running_loop().time()
        if self.config.timeout:
            self._close_idle()
        self._sweep_clients()
        if self.state.db.active_expire_cycle(EXPIRE_SLOW_BUDGET):
            self._schedule_fast_expire()
        self.dispatcher.sample_ops()
        for limited in self._rate_limited_logs:
            limited.flush()
        if self.dropped_request_bytes >= RELEASE_AFTER_BYTES and self.now >= self._next_release:
            self.dropped_request_bytes = 0
            self._next_release = self.now + RELEASE_INTERVAL_SECONDS
            release_free_memory()
        self._schedule_expire_cycle()

    def _schedule_fast_expire(self) -> None:
        if self._fast_expire_timer is None:
            loop = asyncio.get_running_loop()
            self._fast_expire_timer = loop.call_later(EXPIRE_FAST_PERIOD, self._fast_expire)

    def _fast_expire(self) -> None:
        self._fast_expire_timer = None
        if self.state.db.active_expire_cycle(EXPIRE_FAST_BUDGET):
            self._schedule_fast_expire()

    def request_stop(self, save: bool | None = None) -> None:
        if self._stopping.is_set():
            log.warning("second stop signal: exiting at once")
            raise SystemExit(1)
        log.info("stop requested: closing connections")
        self.save_on_stop = save
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
        if self._fast_expire_timer is not None:
            self._fast_expire_timer.cancel()
        if self.metrics is not None:
            await self.metrics.close()
        if self.journal is not None:
            self.journal.flush(check_size=False)  # release the replies waiting for the log
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
        if self.persistence is not None:
            self.persistence.close(snapshot=self.save_on_stop is not False)
        for limited in self._rate_limited_logs:
            limited.flush(force=True)
        log.info("server stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        # Name the signal: a container's or service manager's stop is then told from a crash.
        if not self._stopping.is_set():
            log.info("received %s, shutting down", signal.Signals(signum).name)
        self.request_stop()
