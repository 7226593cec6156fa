"""The command table and the dispatcher that both wire protocols run requests through."""

from typing import TYPE_CHECKING

from kvstore import build
from kvstore.commands import (  # noqa: F401 - each module fills the command table
    bits,
    cluster,
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
    migrate,
    monitor,
    objects,
    pubsub,
    replication,
    reset,
    saving,
    scan,
    scripting,
    slowlog,
    strings,
    substrings,
    transactions,
)
from kvstore.commands import dispatch as _pure_dispatch
from kvstore.commands.context import VERSION, ServerState, Session
from kvstore.commands.stats import CommandStats
from kvstore.commands.table import COMMANDS, Command, UnknownCommandError

if TYPE_CHECKING:  # the two builds' classes have one interface: the pure module's
    from kvstore.commands.dispatch import Dispatcher as Dispatcher
else:  # the build in use (kvstore.build): dispatch.py compiled with Cython, or itself
    Dispatcher = build.choose(_pure_dispatch).Dispatcher

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
