"""What a command handler can see besides its arguments: its connection and the server."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from kvstore import __version__
from kvstore.commands.journal import PersistenceControl
from kvstore.keyspace import Keyspace, wall_clock_ms

VERSION = __version__

_session_ids = itertools.count(1)


@dataclass
class ServerState:
    """State shared by every connection: the table, the registry of sessions, settings that
    commands read (``CONFIG GET``) and counters."""

    db: Keyspace = field(default_factory=Keyspace)
    sessions: dict[int, Session] = field(default_factory=dict)
    #: Settings as ``CONFIG GET`` shows them: name to value, both text.
    settings: Callable[[], dict[str, str]] = dict
    started_ms: int = field(default_factory=wall_clock_ms)
    total_connections: int = 0
    #: SAVE, BGSAVE and friends reach persistence through this (None with it off).
    persistence: PersistenceControl | None = None


@dataclass(eq=False)
class Session:
    """One client connection, as the commands see it."""

    server: ServerState
    addr: str = ""
    laddr: str = ""
    transport: str = "resp"  # "resp" or "text": how the client talks
    id: int = field(default_factory=lambda: next(_session_ids))
    protocol: int = 2  # RESP version, switched by HELLO
    name: bytes = b""
    lib_name: bytes = b""
    lib_ver: bytes = b""
    created_ms: int = field(default_factory=wall_clock_ms)
    last_command: str = ""
    #: Set by QUIT: the connection closes once this command's reply is written.
    close_after_reply: bool = False

    #: The server's keyspace, kept here because every data command reaches for it.
    db: Keyspace = field(init=False)

    def __post_init__(self) -> None:
        self.db = self.server.db
