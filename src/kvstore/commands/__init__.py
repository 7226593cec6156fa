"""The command table and the dispatcher that both wire protocols run requests through."""

# Imported for their side effect: each module fills the command table.
from kvstore.commands import (  # noqa: F401
    connection,
    counters,
    keys,
    strings,
    substrings,
)
from kvstore.commands.context import VERSION, ServerState, Session
from kvstore.commands.dispatch import Dispatcher
from kvstore.commands.table import COMMANDS, Command, UnknownCommandError

__all__ = [
    "COMMANDS",
    "VERSION",
    "Command",
    "Dispatcher",
    "ServerState",
    "Session",
    "UnknownCommandError",
]
