"""The state of client-side caching (see :mod:`kvstore.commands.tracking`): the keys each
client read, the clients tracking, and sending them invalidations. A leaf of the command layer:
it sees clients through :class:`TrackingClient` (a session)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kvstore.protocol.replies import Push, Reply

INVALIDATE = b"invalidate"
CHANNEL = b"__redis__:invalidate"
DEFAULT_MAX_KEYS = 1_000_000


class TrackingClient(Protocol):
    """A session, as the tracker sees it."""

    id: int
    protocol: int
    tracking: TrackingState | None
    push: Callable[[Reply], None] | None

    def subscribed_to(self, channel: bytes) -> bool: ...


@dataclass
class TrackingState:
    """One client's ``CLIENT TRACKING on`` options."""

    redirect: int = 0
    bcast: bool = False
    prefixes: list[bytes] = field(default_factory=list)
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    #: ``CLIENT CACHING yes|no`` for the next command (None: not given).
    caching: bool | None = None


class Tracker:
    """The keys tracked, the clients tracking, and sending the invalidations."""

    def __init__(self, sessions: Mapping[int, TrackingClient] | None = None) -> None:
        #: Every connected client by id (the server's registry): where REDIRECT looks.
        self.sessions: Mapping[int, TrackingClient] = {} if sessions is None else sessions
        #: Key -> the ids of the clients that read it (default mode).
        self.table: dict[bytes, dict[int, None]] = {}
        #: Every session with tracking on, by id.
        self.clients: dict[int, TrackingClient] = {}
        self.max_keys = DEFAULT_MAX_KEYS
        #: Told when the first client turns tracking on or the last turns it off (the
        #: assembly re-wraps the dispatcher's table).
        self.on_change: Callable[[], None] | None = None
        #: The session whose command is running through the wrapper, and the invalidations
        #: for it, which go after its reply.
        self.running: TrackingClient | None = None
        self.pending: list[Reply] = []

    @property
    def active(self) -> bool:
        return bool(self.clients)

    # -- on and off ---------------------------------------------------------------------------

    def enable(self, session: TrackingClient, state: TrackingState) -> None:
        first = not self.clients
        session.tracking = state
        self.clients[session.id] = session
        if first and self.on_change is not None:
            self.on_change()

    def disable(self, session: TrackingClient) -> None:
        if session.tracking is None:
            return
        session.tracking = None
        self.clients.pop(session.id, None)
        for key in [key for key, ids in self.table.items() if session.id in ids]:
            self._forget(key, session.id)
        if not self.clients and self.on_change is not None:
            self.table.clear()
            self.on_change()

    def _forget(self, key: bytes, client_id: int) -> None:
        ids = self.table.get(key)
        if ids is not None:
            ids.pop(client_id, None)
            if not ids:
                del self.table[key]

    # -- reads and writes ---------------------------------------------------------------------

    def remember(self, session: TrackingClient, keys: list[bytes]) -> None:
        state = session.tracking
        if state is None or state.bcast:
            return
        if (state.optin and state.caching is not True) or (state.optout and state.caching is False):
            return
        for key in keys:
            self.table.setdefault(key, {})[session.id] = None
        if self.max_keys and len(self.table) > self.max_keys:
            self._shrink()

    def _shrink(self) -> None:
        """Forget keys (telling their readers) until the table is within its bound."""
        while len(self.table) > self.max_keys:
            key = next(iter(self.table))
            self.invalidate([key], None)

    def invalidate(self, keys: list[bytes], by: TrackingClient | None) -> None:
        """``keys`` changed (by ``by``'s command, or by the server: expiry, eviction)."""
        targets: dict[int, list[bytes]] = {}
        for key in keys:
            ids = self.table.pop(key, None)
            if ids:
                for client_id in ids:
                    targets.setdefault(client_id, []).append(key)
        for session in self.clients.values():
            state = session.tracking
            if state is not None and state.bcast:
                matched = [k for k in keys if _matches(state.prefixes, k)]
                if matched:
                    targets.setdefault(session.id, []).extend(matched)
        for client_id, changed in targets.items():
            client = self.clients.get(client_id)
            if client is None or client.tracking is None:
                continue
            if client.tracking.noloop and by is client:
                continue
            self._send(client, list(dict.fromkeys(changed)))

    def flushed(self) -> None:
        """Every key went (FLUSHDB, FLUSHALL): every tracking client is told so (nil)."""
        self.table.clear()
        for session in list(self.clients.values()):
            self._send(session, None)

    def _send(self, session: TrackingClient, keys: list[bytes] | None) -> None:
        state = session.tracking
        assert state is not None
        target = session
        if state.redirect:
            redirected = self.sessions.get(state.redirect)
            if redirected is None:
                if session.protocol == 3:
                    self._deliver(session, Push([b"tracking-redir-broken", state.redirect]))
                return
            target = redirected
        payload: list[Reply] | None = None if keys is None else list(keys)
        if target.protocol == 3:
            self._deliver(target, Push([INVALIDATE, payload]))
        elif target.subscribed_to(CHANNEL):
            self._deliver(target, Push([b"message", CHANNEL, payload]))

    def _deliver(self, target: TrackingClient, message: Reply) -> None:
        if target is self.running:
            self.pending.append(message)
        elif target.push is not None:
            target.push(message)


def _matches(prefixes: list[bytes], key: bytes) -> bool:
    return not prefixes or any(key.startswith(prefix) for prefix in prefixes)
