"""Running commands in-process against a keyspace on a hand-moved clock (no server, no sleeps).

This module has no tests of its own.
"""

from __future__ import annotations

from kvstore.commands import Dispatcher, ServerState, Session
from kvstore.keyspace import Databases, Keyspace
from kvstore.protocol.replies import Reply

START_MS = 1_700_000_000_000


class FakeClock:
    """Milliseconds since the epoch, moved by hand."""

    def __init__(self, now: int = START_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Harness:
    """One session on a fresh keyspace: ``harness("SET", "k", "v")`` returns the reply (an
    error reply is returned, not raised, as the dispatcher does)."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.db = Keyspace(clock=self.clock)
        self.session = Session(ServerState(dbs=Databases.with_first(self.db)))
        self.dispatcher = Dispatcher()

    def __call__(self, *args: str | bytes | int) -> Reply:
        raw = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
        return self.dispatcher.execute(self.session, raw)

    def advance(self, ms: int) -> None:
        self.clock.now += ms

    def keys(self, *args: str | bytes | int) -> list[bytes]:
        """The reply, which must be an array of strings (KEYS), sorted."""
        reply = self(*args)
        assert isinstance(reply, list), reply
        assert all(isinstance(item, bytes) for item in reply), reply
        return sorted(item for item in reply if isinstance(item, bytes))

    def scan(self, *args: str | bytes | int) -> tuple[bytes, list[bytes]]:
        """A SCAN reply, as (cursor, keys in the order returned)."""
        reply = self("SCAN", *args)
        assert isinstance(reply, list), reply
        cursor, keys = reply
        assert isinstance(cursor, bytes), reply
        assert isinstance(keys, list), reply
        return cursor, [key for key in keys if isinstance(key, bytes)]
