"""The running server: accepting on its listeners, the periodic cycle, and shutdown.

It is given every part ready-made by :func:`kvstore.server.assembly.assemble`; it creates
none and swaps none.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time

from kvstore import build
from kvstore.cluster.membership import EtcdMembership
from kvstore.commands import VERSION, ServerState
from kvstore.config import ServerConfig
from kvstore.persistence import Persistence
from kvstore.replication import Replication
from kvstore.server.connection import ClientConnection
from kvstore.server.context import ConnectionContext
from kvstore.server.control import StopRequest
from kvstore.server.listeners import BACKLOG, Listener, StartupError, close_listeners
from kvstore.server.metrics import MetricsServer
from kvstore.server.metrics_text import CONTENT_TYPE, page_of

log = logging.getLogger("kvstore.server")

#: How often expired keys nobody reads are reclaimed (Redis's default hz is 10).
EXPIRE_CYCLE_SECONDS = 0.1
#: The slow cycle's time slice: a quarter of its period, as Redis's.
EXPIRE_SLOW_BUDGET = EXPIRE_CYCLE_SECONDS / 4
#: While a slow cycle ran out of time, a fast cycle of at most 1 ms runs every 2 ms between
#: them (Redis runs it before the loop sleeps, no more often than twice its length).
EXPIRE_FAST_BUDGET = 0.001
EXPIRE_FAST_PERIOD = 0.002
#: How long a graceful shutdown waits for connections to flush before cutting them.
SHUTDOWN_GRACE_SECONDS = 5.0


class Server:
    def __init__(
        self,
        config: ServerConfig,
        *,
        context: ConnectionContext,
        listeners: list[Listener],
        persistence: Persistence | None,
        replication: Replication,
        stop: StopRequest,
        cluster: EtcdMembership | None = None,
    ) -> None:
        self.config = config
        self.context = context
        self.state: ServerState = context.state
        self.registry = context.registry
        self.admission = context.admission
        #: None with --no-persist.
        self.persistence = persistence
        self.replication = replication
        self.stop = stop
        #: Cluster mode on etcd: follows the topology, leads this node's shard.
        self.cluster = cluster
        self.addresses = [listener.address for listener in listeners if listener.tls is None]
        self.tls_addresses = [listener.address for listener in listeners if listener.tls]
        self._bound = listeners
        self._listeners: list[asyncio.Server] = []
        self.metrics: MetricsServer | None = None  # --metrics-port: the Prometheus endpoint
        self._expire_timer: asyncio.TimerHandle | None = None
        self._fast_expire_timer: asyncio.TimerHandle | None = None

    @property
    def protected(self) -> bool:
        return self.admission.protected

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the metrics page (if asked for), accept clients, start the periodic cycle."""
        loop = asyncio.get_running_loop()
        self.registry.now = loop.time()  # before the first client is accepted
        # Before the first client too: a replica's PSYNC must find the history restored.
        self.replication.start()
        try:
            if self.config.metrics_port:
                await self._start_metrics()
            if self.cluster is not None:
                self.cluster.start(loop)  # blocks a moment: before any client is served
            context = self.context
            config = self.config
            for listener in self._bound:
                # How a connection that starts with a line of words is answered: in the text
                # protocol, or in RESP as Redis does (see docs/protocol.md).
                text = (
                    config.inline_replies if listener.tls is None else config.tls_inline_replies
                ) == "text"
                self._listeners.append(
                    await loop.create_server(
                        functools.partial(ClientConnection, context, text_first=text),
                        sock=listener.sock,
                        ssl=listener.tls,
                        backlog=BACKLOG,  # asyncio listens again, with this backlog
                    )
                )
        except BaseException:
            self.close_listeners()
            close_listeners(self._bound)
            self.replication.stop()
            if self.cluster is not None:
                self.cluster.stop()
            if self.persistence is not None:
                self.persistence.close(snapshot=False)
            raise
        self._schedule_expire_cycle()

    async def _start_metrics(self) -> None:
        metrics = MetricsServer(page_of(self.state), CONTENT_TYPE)
        try:
            await metrics.start(self.config.metrics_bind, self.config.metrics_port)
        except OSError as exc:
            where = f"{self.config.metrics_bind}:{self.config.metrics_port}"
            raise StartupError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
        self.metrics = metrics
        log.info("metrics on http://%s/metrics", metrics.address)

    def banner(self) -> str:
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        parser = build.parser_in_use(self.config.parser)
        where = [", ".join(self.addresses)] if self.addresses else []
        if self.tls_addresses:
            where.append("TLS on " + ", ".join(self.tls_addresses))
        persistence = "off" if self.persistence is None else self.persistence.describe()
        access = "password required" if self.state.requirepass else "no password"
        return (
            f"kvstore {VERSION} listening on {'; '.join(where)} "
            f"(build: {build.BUILD}, event loop: {loop}, parser: {parser}, "
            f"persistence: {persistence}, "
            f"protected mode: {'on' if self.protected else 'off'}, {access})"
        )

    def _schedule_expire_cycle(self) -> None:
        loop = asyncio.get_running_loop()
        self._expire_timer = loop.call_later(EXPIRE_CYCLE_SECONDS, self._expire_cycle)

    def _expire_cycle(self) -> None:
        registry = self.registry
        registry.now = asyncio.get_running_loop().time()
        if self.config.timeout:
            registry.close_idle(self.config.timeout)
        registry.sweep_clients()
        if self._active_expiry(EXPIRE_SLOW_BUDGET):
            self._schedule_fast_expire()
        self.state.stats.sample_ops()
        registry.flush_logs()
        registry.release_dropped_memory()
        self._schedule_expire_cycle()

    def _schedule_fast_expire(self) -> None:
        if self._fast_expire_timer is None:
            loop = asyncio.get_running_loop()
            self._fast_expire_timer = loop.call_later(EXPIRE_FAST_PERIOD, self._fast_expire)

    def _fast_expire(self) -> None:
        self._fast_expire_timer = None
        if self._active_expiry(EXPIRE_FAST_BUDGET):
            self._schedule_fast_expire()

    def _active_expiry(self, budget: float) -> bool:
        """One active expiry cycle (none while CLIENT PAUSE is on, as in Redis, nor on a
        replica: its primary's expiries arrive as DELs), timed for the latency monitor's
        ``expire-cycle`` events."""
        state = self.state
        if state.pause.expire() or self.replication.is_replica:
            return False
        started = time.perf_counter_ns()
        more = state.dbs.active_expire_cycle(budget)
        state.stats.latency.add_if_needed(
            "expire-cycle", (time.perf_counter_ns() - started) // 1_000_000
        )
        return more

    def close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    async def serve(self) -> None:
        """Serve until a stop is requested, then shut down in order."""
        await self.stop.event.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, let each connection flush its replies, then close it."""
        self.close_listeners()
        self.replication.stop()  # no more of the primary's stream is applied
        if self._expire_timer is not None:
            self._expire_timer.cancel()
        if self._fast_expire_timer is not None:
            self._fast_expire_timer.cancel()
        if self.metrics is not None:
            await self.metrics.close()
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.stop)  # gives the shard's leadership up
        if self.persistence is not None:
            self.persistence.flush()  # the replies waiting for the log go out
        connections = list(self.registry.connections)
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
            self.persistence.close(snapshot=self.stop.save is not False)
            self.replication.save_state()
        self.registry.flush_logs(force=True)
        log.info("server stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.signal, signum)
