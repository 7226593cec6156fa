"""The server: listening sockets, the registry of connections, timers and shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal

from kvstore.commands import VERSION, Dispatcher, ServerState
from kvstore.config import ServerConfig
from kvstore.persistence import Persistence, RecoveryError
from kvstore.persistence.journal import LogJournal
from kvstore.protocol import hiredis_available
from kvstore.server.connection import ClientConnection

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
        #: None with --no-persist; else set up by start() (journal too: the connections hold
        #: replies until their writes are in the log).
        self.persistence: Persistence | None = None
        self.journal: LogJournal | None = None

    # -- connections -------------------------------------------------------------------------

    def register(self, connection: ClientConnection) -> None:
        self.connections.add(connection)
        self.state.sessions[connection.session.id] = connection.session
        self.state.total_connections += 1

    def unregister(self, connection: ClientConnection) -> None:
        self.connections.discard(connection)
        self.state.sessions.pop(connection.session.id, None)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.parser == "hiredis" and not hiredis_available():
            raise StartupError("--parser hiredis: the hiredis package is not installed")
        for host in self.config.bind:
            try:
                listener = await loop.create_server(
                    lambda: ClientConnection(self),
                    host,
                    self.config.port,
                    reuse_address=True,
                    backlog=4096,
                    start_serving=False,  # after the data is loaded
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
        if not self.config.no_persist:
            try:
                self._open_persistence(loop)
            except StartupError:
                self.close_listeners()
                raise
        for listener in self._listeners:
            await listener.start_serving()
        self._schedule_expire_cycle()

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

    def banner(self) -> str:
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        parser = "hiredis" if self.use_hiredis else "python"
        persistence = "off" if self.persistence is None else self.persistence.describe()
        return (
            f"kvstore {VERSION} listening on {', '.join(self.addresses)} "
            f"(event loop: {loop}, parser: {parser}, persistence: {persistence})"
        )

    def _schedule_expire_cycle(self) -> None:
        loop = asyncio.get_running_loop()
        self._expire_timer = loop.call_later(EXPIRE_CYCLE_SECONDS, self._expire_cycle)

    def _expire_cycle(self) -> None:
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
            self.persistence.close()
        log.info("server stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
