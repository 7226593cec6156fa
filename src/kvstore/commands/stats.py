"""The counters the dispatcher keeps and INFO reads: calls, time and errors per command, the
command rate, and the slow log.

The dispatcher writes them (:class:`CommandStats`, made once by the server's assembly and
shared with :class:`~kvstore.commands.context.ServerState`); INFO commandstats, errorstats and
stats, SLOWLOG, CONFIG RESETSTAT and the metrics page read them here, never through the
dispatcher. Entries of the slow log are laid out as Redis 7 replies them.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Protocol

from kvstore.commands.latency_monitor import LatencyMonitor, new_histogram
from kvstore.protocol.replies import Reply

#: Samples averaged, as Redis does: 16 samples 100 ms apart, so the rate of the last 1.6 s.
OPS_SAMPLES = 16


class OpsMeter:
    """A rate from a monotonic counter sampled at intervals."""

    def __init__(self) -> None:
        self._rates: deque[float] = deque(maxlen=OPS_SAMPLES)
        self._last_ms: int | None = None
        self._last_count = 0

    def sample(self, now_ms: int, count: int) -> None:
        last_ms = self._last_ms
        if last_ms is not None and now_ms > last_ms:
            self._rates.append((count - self._last_count) * 1000 / (now_ms - last_ms))
        self._last_ms = now_ms
        self._last_count = count

    def per_second(self) -> int:
        """The average rate over the samples held, 0 before there are any."""
        rates = self._rates
        return round(sum(rates) / len(rates)) if rates else 0


class CommandTally(Protocol):
    """One command's counters, as the dispatcher keeps them (``kvstore.commands.dispatch.Tally``,
    whose fields are C fields in the compiled build)."""

    calls: int  # commands run (a queued command counts when EXEC runs it)
    run_ns: int  # their time, in nanoseconds
    rejected: int  # refused before running (arity, NOAUTH...)
    failed: int  # ran and answered an error


class CommandStats:
    """Counters for INFO commandstats/errorstats/stats and the metrics page; the slow log.

    The per-command counters are in :attr:`tallies`, one by command name, which the dispatcher
    makes and counts into; :attr:`calls`, :attr:`run_ns`, :attr:`rejected` and :attr:`failed`
    are views of them as dictionaries. Error replies by code and in all stay here.
    """

    def __init__(self) -> None:
        #: Each command's counters, by name (made by the dispatcher for each command it runs).
        self.tallies: dict[str, CommandTally] = {}
        self.error_codes: Counter[str] = Counter()  # error replies by code (ERR, WRONGTYPE...)
        self.errors = 0
        self.ops = OpsMeter()
        self.slowlog = SlowLog()
        #: Each command's run times (``latency-tracking``), by full name (``client|id``):
        #: every command the dispatcher knows, subcommands' added as they run. The
        #: dispatcher's tallies hold the very lists (see :meth:`histogram`).
        self.histograms: dict[str, list[int]] = {}
        self.latency_tracking = True
        #: The percentiles INFO latencystats shows (``latency-tracking-info-percentiles``).
        self.info_percentiles: tuple[float, ...] = (50.0, 99.0, 99.9)
        self.latency = LatencyMonitor()

    def histogram(self, name: str) -> list[int]:
        """The latency histogram of ``name`` (a command's or a subcommand's full name), made
        on first use; :meth:`reset` empties it in place."""
        histogram = self.histograms.get(name)
        if histogram is None:
            histogram = self.histograms[name] = new_histogram()
        return histogram

    def record_latency(self, name: str, elapsed_ns: int) -> None:
        """Count one run of ``name`` (a subcommand's full name) in its histogram."""
        self.histogram(name)[elapsed_ns.bit_length()] += 1

    @property
    def calls(self) -> dict[str, int]:
        """Calls per command name, every command the dispatcher knows."""
        return {name: tally.calls for name, tally in self.tallies.items()}

    @property
    def run_ns(self) -> dict[str, int]:
        """Time spent per command name, in nanoseconds; every name, as in ``calls``."""
        return {name: tally.run_ns for name, tally in self.tallies.items()}

    @property
    def rejected(self) -> dict[str, int]:
        """Calls refused before running, per command name (only those with any)."""
        return {name: tally.rejected for name, tally in self.tallies.items() if tally.rejected}

    @property
    def failed(self) -> dict[str, int]:
        """Calls that ran and answered an error, per command name (only those with any)."""
        return {name: tally.failed for name, tally in self.tallies.items() if tally.failed}

    @property
    def total_calls(self) -> int:
        """Commands run (a queued command counts when EXEC runs it)."""
        return sum(tally.calls for tally in self.tallies.values())

    def sample_ops(self) -> None:
        """Sample the command rate for INFO; the server calls this every 100 ms."""
        self.ops.sample(time.monotonic_ns() // 1_000_000, self.total_calls)

    def reset(self) -> None:
        """What ``CONFIG RESETSTAT`` zeroes here: everything but the slow log."""
        for tally in self.tallies.values():
            tally.calls = tally.run_ns = tally.rejected = tally.failed = 0
        self.error_codes.clear()
        self.errors = 0
        self.ops = OpsMeter()
        for histogram in self.histograms.values():
            histogram[:] = new_histogram()


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


def shown_args(args: list[bytes]) -> list[bytes]:
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


def _redacted(args: list[bytes]) -> list[bytes]:
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

    def record(self, args: list[bytes], duration_ns: int, addr: str, name: bytes) -> None:
        if args[0].lower() == b"exec":
            return  # its commands are logged one by one, as in Redis
        self.entries.appendleft(
            SlowEntry(
                self.next_id,
                time.time_ns() // 1_000_000_000,
                duration_ns // 1000,
                shown_args(args),
                addr.encode(),
                name,
            )
        )
        self.next_id += 1

    def reset(self) -> None:
        self.entries.clear()
