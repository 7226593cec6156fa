"""The command table and the dispatcher that both wire protocols run requests through."""

from kvstore.commands import (  # noqa: F401 - each module fills the command table
    bits,
    commandstats,
    connection,
    counters,
    databases,
    dump,
    expiry,
    info,
    info_sections,
    introspection,
    keys,
    latency,
    lcs,
    monitor,
    objects,
    pubsub,
    reset,
    saving,
    scan,
    scripting,
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
