"""The command table and the dispatcher that both wire protocols run requests through."""

import kvstore.commands.saving  # noqa: F401 - SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE
from kvstore.commands import connection, keys, strings  # noqa: F401 - they fill the table
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
