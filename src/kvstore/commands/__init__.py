"""The command table and the dispatcher that both wire protocols run requests through."""

from kvstore.commands import (  # noqa: F401 - they fill the table
    connection,
    expiry,
    info,
    info_sections,
    keys,
    scan,
    strings,
    transactions,
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
