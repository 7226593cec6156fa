"""The registry of connections: admitting them under ``--maxclients``, the idle sweep, and the
rate-limited log lines about clients the server turns away or cuts off."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from kvstore.commands import ServerState, Session
from kvstore.server.guards import RateLimitedLog

log = logging.getLogger("kvstore.server")


class Peer(Protocol):
    """A connection, as the registry sees it."""

    session: Session
    #: The registry's clock at the connection's last read.
    last_read: float
    closed: asyncio.Future[None]

    def close(self) -> None: ...

    def abort(self) -> None: ...


class Registry:
    def __init__(self, state: ServerState, maxclients: int, output_limit: int) -> None:
        self.state = state
        self.maxclients = maxclients
        self.output_limit = output_limit
        self.connections: set[Peer] = set()
        #: A coarse monotonic clock in seconds, advanced by the server's periodic cycle:
        #: connections stamp their reads with it at the cost of one attribute read.
        self.now = 0.0
        self._next_idle_sweep = 0.0
        self.output_disconnections = 0
        self._log_full = RateLimitedLog(logging.WARNING)
        self._log_http = RateLimitedLog(logging.WARNING)
        self._log_output = RateLimitedLog(logging.WARNING)

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
            self.output_limit,
        )

    def close_idle(self, timeout: int) -> None:
        """Close clients that sent nothing for ``timeout`` seconds (checked once a second)."""
        if self.now < self._next_idle_sweep:
            return
        self._next_idle_sweep = self.now + 1.0
        oldest = self.now - timeout
        for connection in [c for c in self.connections if c.last_read < oldest]:
            log.info("closing %s: idle for over %ds", connection.session.addr, timeout)
            connection.close()
