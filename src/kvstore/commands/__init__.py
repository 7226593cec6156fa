"""The command table and the dispatcher that both wire protocols run requests through."""

from kvstore.commands import (  # noqa: F401 - each module fills the command table
    commandstats,
    connection,
    counters,
    expiry,
    info,
    info_sections,
    keys,
    latency,
    pubsub,
    saving,
    scan,
    slowlog,
    strings,
    substrings,
    transactions,
)
from kvstore.commands.context import VERSION, ServerState, Session
from kvstore.commands.dispatch import Dispatcher
from kvstore.commands.stats import CommandStats
from kvstore.commands.table import COMMANDS, Command, UnknownCommandError

__all__ = [
    "COMMANDS",
    "VERSION",
    "Command",
    "CommandStats",
    "Dispatcher",
    "ServerState",
    "Session",
    "UnknownCommandError",
]
