"""SLOWLOG: reading and resetting the slow log (:class:`~kvstore.commands.stats.SlowLog`).

The dispatcher times every command (Redis does too: INFO commandstats needs the time anyway)
and records one in the log only when it took at least the threshold, so the log costs the hot
path a single comparison.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.stats import SlowLog
from kvstore.commands.table import Args, Subcommands, command, dispatch_subcommand, parse_int
from kvstore.protocol.replies import OK, Reply, ReplyError, Status


def _slowlog_of(session: Session) -> SlowLog:
    return session.server.stats.slowlog


def _get(session: Session, args: Args) -> Reply:
    count = 10
    if len(args) == 3:
        message = "ERR count should be greater than or equal to -1"
        count = parse_int(args[2], message)
        if count < -1:
            raise ReplyError(message)
    entries = list(_slowlog_of(session).entries)
    if count != -1:
        entries = entries[:count]
    return [entry.reply() for entry in entries]


def _len(session: Session, args: Args) -> Reply:
    return len(_slowlog_of(session).entries)


def _reset(session: Session, args: Args) -> Reply:
    _slowlog_of(session).reset()
    return OK


HELP = (
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return the newest <count> entries of the slow log (default 10; -1: every entry).",
    "    Each entry is: id, Unix time, duration in microseconds, the arguments,",
    "    the client's address and port, the client's name.",
    "LEN",
    "    Return the number of entries in the slow log.",
    "RESET",
    "    Empty the slow log.",
    "HELP",
    "    Print this help.",
)


def _help(session: Session, args: Args) -> Reply:
    return [Status(line) for line in HELP]


_SLOWLOG: Subcommands = {
    b"get": (-2, _get),
    b"len": (2, _len),
    b"reset": (2, _reset),
    b"help": (2, _help),
}


@command("slowlog", -2, "admin loading stale", group="server", summary="Read the slow log.")
def slowlog(session: Session, args: Args) -> Reply:
    if len(args) > 3 and args[1].lower() == b"get":
        raise ReplyError("ERR wrong number of arguments for 'slowlog|get' command")
    return dispatch_subcommand(_SLOWLOG, session, args)
