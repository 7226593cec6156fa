"""Per-command and per-error counters: INFO commandstats and errorstats, and resetting them.

The dispatcher keeps the raw counters (calls, time, rejections and failures per command, error
replies per error code) in :class:`~kvstore.commands.stats.CommandStats`, which the server state
shares; this module turns them into figures that INFO and the metrics page
both read (:func:`command_figures`, :func:`error_figures`), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.commands.connection import _CONFIG
from kvstore.commands.context import ServerState, Session
from kvstore.commands.info import InfoFields, info_section
from kvstore.commands.table import Args
from kvstore.protocol.replies import OK, Reply


@dataclass(frozen=True)
class CommandFigures:
    name: str
    calls: int
    usec: int
    rejected_calls: int
    failed_calls: int

    @property
    def usec_per_call(self) -> float:
        return self.usec / self.calls if self.calls else 0.0


def command_figures(state: ServerState) -> list[CommandFigures]:
    """Every command that was called, rejected or failed since the start (or the last reset),
    by name."""
    return [
        CommandFigures(name, tally.calls, tally.run_ns // 1000, tally.rejected, tally.failed)
        for name, tally in sorted(state.stats.tallies.items())
        if tally.calls or tally.rejected or tally.failed
    ]


def error_figures(state: ServerState) -> dict[str, int]:
    """Error replies by error code (the first word: ``ERR``, ``WRONGTYPE``...)."""
    return dict(sorted(state.stats.error_codes.items()))


@info_section("commandstats", default=False)
def _commandstats(session: Session) -> InfoFields:
    return {
        f"cmdstat_{figures.name}": (
            f"calls={figures.calls},usec={figures.usec},"
            f"usec_per_call={figures.usec_per_call:.2f},"
            f"rejected_calls={figures.rejected_calls},failed_calls={figures.failed_calls}"
        )
        for figures in command_figures(session.server)
    }


@info_section("errorstats", default=False)
def _errorstats(session: Session) -> InfoFields:
    return {
        f"errorstat_{code}": f"count={count}"
        for code, count in error_figures(session.server).items()
    }


def reset_stats(state: ServerState) -> None:
    """What ``CONFIG RESETSTAT`` resets, as in Redis: command and error statistics, the
    keyspace hit, miss, expiry and eviction counts, connections received and the command rate.
    The slow log stays (``SLOWLOG RESET`` empties it)."""
    state.stats.reset()
    for db in state.dbs:
        db.hits = db.misses = db.expired_keys = db.evicted_keys = 0
    state.total_connections = state.rejected_connections = 0
    state.output_limit_disconnections = 0


def _config_resetstat(session: Session, args: Args) -> Reply:
    reset_stats(session.server)
    return OK


# CONFIG RESETSTAT, unless the CONFIG command already has its own (which should call
# reset_stats).
_CONFIG[b"resetstat"] = (2, _config_resetstat)
