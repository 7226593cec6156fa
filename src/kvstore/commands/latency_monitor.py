"""What LATENCY reads: the latency monitor's events and the per-command latency histograms.

The monitor (``latency-monitor-threshold`` milliseconds, 0: off, as Redis) keeps, for each
kind of event (``command``, ``fast-command``, ``expire-cycle``, ``eviction-cycle``,
``aof-write``, ``aof-fsync-always``), the latest 160 samples at most one a second (the largest
of that second) and the largest ever, as Redis does. Whoever measures an event hands it to
:meth:`LatencyMonitor.add_if_needed`.

The histograms (``latency-tracking``, on by default as in Redis) count each command's run
times in power-of-two buckets of nanoseconds: the dispatcher adds one to
``histogram[elapsed.bit_length()]``, a list index; subcommands (``client|id``) are counted by
:func:`kvstore.commands.table.dispatch_subcommand`. LATENCY HISTOGRAM and INFO latencystats
read them as Redis's HDR histograms report (buckets from 1024 ns, doubling).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

#: Samples kept per event, as Redis's LATENCY_TS_LEN.
MAX_SAMPLES = 160
#: Slots of a histogram: one per bit length of a duration in nanoseconds.
HISTOGRAM_SLOTS = 65
#: Durations under 2**FIRST_BUCKET_BITS ns (1024) share the first bucket, as in Redis.
FIRST_BUCKET_BITS = 10


@dataclass
class EventSeries:
    """One kind of event: (unix time, milliseconds) samples, oldest first, and the maximum."""

    samples: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    max_ms: int = 0


class LatencyMonitor:
    """The events at or above the threshold, by kind."""

    def __init__(self, threshold_ms: int = 0) -> None:
        self.threshold_ms = threshold_ms
        self.events: dict[str, EventSeries] = {}

    def add_if_needed(self, event: str, ms: int) -> None:
        """Record ``ms`` for ``event`` if the monitor is on and it reaches the threshold."""
        if self.threshold_ms and ms >= self.threshold_ms:
            self.add(event, ms)

    def add(self, event: str, ms: int, now: int | None = None) -> None:
        series = self.events.get(event)
        if series is None:
            series = self.events[event] = EventSeries()
        series.max_ms = max(series.max_ms, ms)
        second = int(time.time()) if now is None else now
        samples = series.samples
        if samples and samples[-1][0] == second:  # one sample a second: its largest
            if ms > samples[-1][1]:
                samples[-1] = (second, ms)
            return
        samples.append((second, ms))

    def reset(self, names: list[str] | None = None) -> int:
        """Forget the events named (all: None); how many there were."""
        if names is None:
            count = len(self.events)
            self.events.clear()
            return count
        count = 0
        for name in dict.fromkeys(names):
            if self.events.pop(name, None) is not None:
                count += 1
        return count


def new_histogram() -> list[int]:
    return [0] * HISTOGRAM_SLOTS


def histogram_calls(histogram: list[int]) -> int:
    return sum(histogram)


def cumulative_buckets(histogram: list[int]) -> list[tuple[int, int]]:
    """(bucket's upper bound in microseconds, calls up to it) for each bucket that adds calls,
    as Redis iterates its histograms (first bucket 1024 ns, then doubling)."""
    buckets: list[tuple[int, int]] = []
    total = sum(histogram[: FIRST_BUCKET_BITS + 1])
    if total:
        buckets.append((((1 << FIRST_BUCKET_BITS) - 1) // 1000, total))
    for bits in range(FIRST_BUCKET_BITS + 1, HISTOGRAM_SLOTS):
        count = histogram[bits]
        if count:
            total += count
            buckets.append((((1 << bits) - 1) // 1000, total))
    return buckets


def percentile_us(histogram: list[int], percentile: float) -> float:
    """The upper bound (microseconds) of the bucket holding ``percentile`` per cent of calls
    (0: none)."""
    calls = sum(histogram)
    wanted = max(1.0, calls * percentile / 100)
    total = 0
    for bits, count in enumerate(histogram):
        total += count
        if count and total >= wanted:
            return ((1 << max(bits, FIRST_BUCKET_BITS)) - 1) / 1000
    return 0.0
