"""The registry of connections: admitting them under ``--maxclients``, the clients' memory
and output limits, the idle and client sweeps, and the rate-limited log lines about clients the
server turns away or cuts off."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from kvstore.commands import ServerState, Session
from kvstore.config import OutputLimit
from kvstore.config.options import DEFAULT_PUBSUB_LIMIT
from kvstore.eviction import MemoryGuard
from kvstore.protocol import RequestLimits
from kvstore.server.guards import RateLimitedLog, release_free_memory

log = logging.getLogger("kvstore.server")

#: Unfinished requests dropped (their clients left) worth handing memory back to the system for,
#: and how often at most: the cost of doing it grows with the heap.
RELEASE_AFTER_BYTES = 1024 * 1024
RELEASE_INTERVAL_SECONDS = 1.0


class Peer(Protocol):
    """A connection, as the registry sees it."""

    session: Session
    #: The registry's clock at the connection's last read.
    last_read: float
    closed: asyncio.Future[None]

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def check_output(self) -> None:
        """Count the connection's buffers and apply the output limits to it."""

    def apply_limits(self, limits: RequestLimits) -> None:
        """Parse from now on under ``limits`` (once authenticated)."""


class Registry:
    def __init__(
        self,
        state: ServerState,
        maxclients: int,
        output_limit: OutputLimit,
        memory_guard: MemoryGuard | None,
    ) -> None:
        self.state = state
        self.maxclients = maxclients
        #: ``client-output-buffer-limit``; CONFIG SET replaces it, and every client follows
        #: at its next write or the next sweep, as with Redis.
        self.output_limit = output_limit
        #: The ``pubsub`` class of the setting: for clients with a subscription.
        self.pubsub_output_limit = DEFAULT_PUBSUB_LIMIT
        #: Under ``--maxmemory``: the clients' buffers count against the limit.
        self.memory_guard = memory_guard
        self.connections: set[Peer] = set()
        #: The parsers' limits (``proto-max-bulk-len``, ``client-query-buffer-limit``...):
        #: CONFIG SET replaces them, and every connection follows at once, as with Redis.
        self.request_limits = RequestLimits()
        #: A coarse monotonic clock in seconds, advanced by the server's periodic cycle:
        #: connections stamp their reads with it at the cost of one attribute read.
        self.now = 0.0
        self._next_idle_sweep = 0.0
        #: Bytes of unfinished requests whose clients left, since memory was last released.
        self.dropped_request_bytes = 0
        self._next_release = 0.0
        self._next_clients_sweep = 0.0
        self._sweep_queue: list[Peer] = []
        self._sweep_chunk = 1
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

    def register(self, connection: Peer) -> bool:
        """Admit a new connection; False if the server already holds ``maxclients``."""
        state = self.state
        if len(self.connections) >= self.maxclients:
            state.rejected_connections += 1
            self._log_full(
                "refused a client from %s: max number of clients (%d) reached",
                connection.session.addr,
                self.maxclients,
            )
            return False
        self.connections.add(connection)
        state.sessions[connection.session.id] = connection.session
        state.total_connections += 1
        return True

    def unregister(self, connection: Peer) -> None:
        self.connections.discard(connection)
        self.state.sessions.pop(connection.session.id, None)
        connection.session.release()

    def add_clients_memory(self, delta: int) -> None:
        """A connection's buffers grew or shrank by ``delta`` bytes since it last said."""
        total = self.state.clients_memory + delta
        self.state.clients_memory = total
        if self.memory_guard is not None:
            self.memory_guard.clients = total

    # -- log lines -------------------------------------------------------------------------

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

    def flush_logs(self, force: bool = False) -> None:
        """Log what the rate limits held back, once their interval is over (or ``force``)."""
        for limited in self._rate_limited_logs:
            limited.flush(force)

    # -- the periodic cycle's share ------------------------------------------------------------

    def sweep_clients(self) -> None:
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

    def close_idle(self, timeout: int) -> None:
        """Close clients that sent nothing for ``timeout`` seconds (checked once a second)."""
        if self.now < self._next_idle_sweep:
            return
        self._next_idle_sweep = self.now + 1.0
        oldest = self.now - timeout
        for connection in [c for c in self.connections if c.last_read < oldest]:
            self._log_idle("closing %s: idle for over %ds", connection.session.addr, timeout)
            connection.close()

    def release_dropped_memory(self) -> None:
        """Hand the memory of unfinished requests whose clients left back to the system, once
        there is enough of it, and not too often."""
        if self.dropped_request_bytes >= RELEASE_AFTER_BYTES and self.now >= self._next_release:
            self.dropped_request_bytes = 0
            self._next_release = self.now + RELEASE_INTERVAL_SECONDS
            release_free_memory()
