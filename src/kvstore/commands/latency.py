"""LATENCY, minimal: kvstore has no latency monitor (Redis's is off by default too), so the
event lists are empty; DOCTOR says so and points to what the server does measure."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import (
    SUBCOMMAND_TABLES,
    Args,
    Subcommands,
    command,
    dispatch_subcommand,
)
from kvstore.protocol.replies import Reply, ReplyError, Status

DOCTOR = (
    "kvstore does not run a latency monitor, so it has no latency events to analyse.\n"
    "What it measures instead: SLOWLOG GET lists the commands slower than "
    "slowlog-log-slower-than microseconds; INFO commandstats gives each command's calls "
    "and total time; the metrics endpoint (--metrics-port) exports the same figures.\n"
)

HELP = (
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LATEST",
    "    The latest latency event of each kind (always empty: no latency monitor).",
    "HISTORY <event>",
    "    The history of one kind of event (always empty).",
    "GRAPH <event>",
    "    An ASCII-art graph of one kind of event (there are none to draw).",
    "RESET [<event> ...]",
    "    Forget events; replies how many kinds were reset (always 0).",
    "DOCTOR",
    "    A report in words.",
    "HELP",
    "    Print this help.",
)


def _empty(session: Session, args: Args) -> Reply:
    return []


def _reset(session: Session, args: Args) -> Reply:
    return 0


def _doctor(session: Session, args: Args) -> Reply:
    return DOCTOR.encode()


def _graph(session: Session, args: Args) -> Reply:
    event = args[2].decode("utf-8", "replace")
    raise ReplyError(f"ERR No samples available for event '{event}'")


def _help(session: Session, args: Args) -> Reply:
    return [Status(line) for line in HELP]


_LATENCY: Subcommands = {
    b"latest": (2, _empty),
    b"history": (3, _empty),
    b"graph": (3, _graph),
    b"reset": (-2, _reset),
    b"doctor": (2, _doctor),
    b"help": (2, _help),
}


SUBCOMMAND_TABLES[b"latency"] = _LATENCY


@command("latency", -2, "admin loading stale", group="server", summary="Latency events.")
def latency(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_LATENCY, session, args)
