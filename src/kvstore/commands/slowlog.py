"""The slow log: commands that ran longer than a threshold, and the SLOWLOG command.

The dispatcher times every command (Redis does too: INFO commandstats needs the time anyway)
and calls :meth:`SlowLog.record` only when one took at least ``threshold_ns``, so the log costs
the hot path a single comparison. Entries are laid out as Redis 7 replies them.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass

from kvstore.commands.context import Session
from kvstore.commands.table import Args, Subcommands, command, dispatch_subcommand, parse_int
from kvstore.protocol.replies import OK, Reply, ReplyError, Status

#: Redis's defaults: slowlog-log-slower-than (microseconds) and slowlog-max-len.
DEFAULT_SLOWER_THAN_US = 10_000
DEFAULT_MAX_LEN = 128
#: Redis's limits on what an entry keeps of a command: this many arguments, this many bytes each.
MAX_ARGS = 32
MAX_ARG_BYTES = 128
#: A threshold no command reaches: the log is off.
NEVER = sys.maxsize
REDACTED = b"(redacted)"


@dataclass(frozen=True)
class SlowEntry:
    id: int
    unix_time: int
    duration_us: int
    args: list[bytes]
    addr: bytes
    name: bytes

    def reply(self) -> Reply:
        return [
            self.id,
            self.unix_time,
            self.duration_us,
            list(self.args),
            self.addr,
            self.name,
        ]


def shown_args(args: Args) -> list[bytes]:
    """What an entry keeps of ``args``: at most 32 (the last saying how many more there were),
    each cut at 128 bytes (saying how many more bytes there were); passwords redacted."""
    args = _redacted(args)
    kept = len(args) if len(args) <= MAX_ARGS else MAX_ARGS - 1
    shown = [arg if len(arg) <= MAX_ARG_BYTES else _cut(arg) for arg in args[:kept]]
    if kept < len(args):
        shown.append(b"... (%d more arguments)" % (len(args) - kept))
    return shown


def _cut(arg: bytes) -> bytes:
    return b"%s... (%d more bytes)" % (arg[:MAX_ARG_BYTES], len(arg) - MAX_ARG_BYTES)


def _redacted(args: Args) -> Args:
    """``args`` with any password replaced, as Redis shows AUTH and HELLO ... AUTH."""
    name = args[0].lower()
    if name == b"auth":
        return [args[0], *(REDACTED for _ in args[1:])]
    if name == b"hello":
        for index, arg in enumerate(args):
            if arg.lower() == b"auth":
                hidden = args[index + 1 : index + 3]
                return [*args[: index + 1], *(REDACTED for _ in hidden), *args[index + 3 :]]
    return args


class SlowLog:
    """The newest ``max_len`` slow commands; ids keep counting across RESET, as in Redis."""

    def __init__(
        self, slower_than_us: int = DEFAULT_SLOWER_THAN_US, max_len: int = DEFAULT_MAX_LEN
    ) -> None:
        self.entries: deque[SlowEntry] = deque(maxlen=max(max_len, 0))
        self.next_id = 0
        #: The dispatcher compares each command's duration with this (nanoseconds).
        self.threshold_ns = NEVER
        self.configure(slower_than_us, max_len)

    def configure(self, slower_than_us: int | None = None, max_len: int | None = None) -> None:
        """Change the threshold (microseconds; negative: off; 0: every command) or the length,
        at run time (CONFIG SET can call this)."""
        if slower_than_us is not None:
            self.threshold_ns = NEVER if slower_than_us < 0 else slower_than_us * 1000
        if max_len is not None and max_len != self.entries.maxlen:
            self.entries = deque(self.entries, maxlen=max(max_len, 0))

    @property
    def slower_than_us(self) -> int:
        return -1 if self.threshold_ns == NEVER else self.threshold_ns // 1000

    def record(self, session: Session, args: Args, duration_ns: int) -> None:
        if args[0].lower() == b"exec":
            return  # its commands are logged one by one, as in Redis
        self.entries.appendleft(
            SlowEntry(
                self.next_id,
                time.time_ns() // 1_000_000_000,
                duration_ns // 1000,
                shown_args(args),
                session.addr.encode(),
                session.name,
            )
        )
        self.next_id += 1

    def reset(self) -> None:
        self.entries.clear()


def _slowlog_of(session: Session) -> SlowLog:
    dispatcher = session.server.dispatcher
    if dispatcher is None:
        raise ReplyError("ERR the slow log is not available")
    return dispatcher.slowlog


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
