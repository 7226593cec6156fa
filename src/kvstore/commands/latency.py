"""LATENCY: the latency monitor's events (LATEST, HISTORY, RESET, GRAPH, DOCTOR) and the
per-command latency histograms (HISTOGRAM), as Redis 7.0 replies them. The figures are kept in
:mod:`kvstore.commands.latency_monitor`."""

from __future__ import annotations

import time

from kvstore.commands.context import Session
from kvstore.commands.info import InfoFields, info_section
from kvstore.commands.latency_monitor import (
    EventSeries,
    LatencyMonitor,
    cumulative_buckets,
    percentile_us,
)
from kvstore.commands.table import (
    COMMANDS,
    SUBCOMMAND_TABLES,
    Args,
    Subcommands,
    command,
    dispatch_subcommand,
)
from kvstore.config.options import format_percentile
from kvstore.protocol.replies import Reply, ReplyError, Status

HELP = (
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
)

#: Bars of LATENCY GRAPH, and the rows they are drawn in.
GRAPH_WIDTH = 80
GRAPH_ROWS = 4


def _monitor(session: Session) -> LatencyMonitor:
    return session.server.stats.latency


def _latest(session: Session, args: Args) -> Reply:
    replies: list[Reply] = []
    for name, series in _monitor(session).events.items():
        when, ms = series.samples[-1]
        replies.append([name.encode(), when, ms, series.max_ms])
    return replies


def _history(session: Session, args: Args) -> Reply:
    series = _monitor(session).events.get(args[2].decode("utf-8", "replace"))
    if series is None:
        return []
    return [[when, ms] for when, ms in series.samples]


def _reset(session: Session, args: Args) -> Reply:
    names = [arg.decode("utf-8", "replace") for arg in args[2:]]
    return _monitor(session).reset(names or None)


def _graph(session: Session, args: Args) -> Reply:
    event = args[2].decode("utf-8", "replace")
    series = _monitor(session).events.get(event)
    if series is None:
        raise ReplyError(f"ERR No samples available for event '{event}'")
    return graph(event, series, int(time.time())).encode()


def graph(event: str, series: EventSeries, now: int) -> str:
    """An ASCII chart of the samples, oldest left: a column per sample, its height the
    latency between the lowest and the highest shown, and under it how long ago it was."""
    samples = list(series.samples)[-GRAPH_WIDTH:]
    values = [ms for _, ms in samples]
    high, low = max(values), min(values)
    lines = [
        f"{event} - high {high} ms, low {low} ms (all time high {series.max_ms} ms)",
        "-" * GRAPH_WIDTH,
    ]
    span = max(high - low, 1)
    heights = [1 + (ms - low) * (GRAPH_ROWS - 1) // span for ms in values]
    for row in range(GRAPH_ROWS, 0, -1):
        lines.append("".join("#" if height >= row else " " for height in heights).rstrip())
    ages = [_age(now - when) for when, _ in samples]
    width = max(len(age) for age in ages)
    for position in range(width):  # each age written downwards under its column
        lines.append("".join(age.rjust(width)[position] for age in ages).rstrip())
    return "\n".join(lines) + "\n"


def _age(seconds: int) -> str:
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _doctor(session: Session, args: Args) -> Reply:
    return doctor(_monitor(session)).encode()


def doctor(monitor: LatencyMonitor) -> str:
    """A report in words: whether the monitor is on, and each kind of event's figures."""
    if not monitor.threshold_ms:
        return (
            "The latency monitor is off in this kvstore server, so it has no latency events "
            'to analyse. Turn it on with "CONFIG SET latency-monitor-threshold <milliseconds>" '
            "(or --latency-monitor-threshold). Meanwhile SLOWLOG GET lists the slowest "
            "commands and LATENCY HISTOGRAM each command's run times.\n"
        )
    if not monitor.events:
        return (
            "No latency spike was observed in this kvstore server: no event took "
            f"{monitor.threshold_ms} ms (latency-monitor-threshold) or more.\n"
        )
    lines = [f"Latency spikes of {monitor.threshold_ms} ms or more were observed:", ""]
    for number, (name, series) in enumerate(monitor.events.items(), 1):
        values = [ms for _, ms in series.samples]
        average = sum(values) // len(values)
        lines.append(
            f"{number}. {name}: {len(values)} latency spikes (average {average}ms, "
            f"worst {series.max_ms}ms)."
        )
    lines += ["", *_advice(monitor)]
    return "\n".join(lines) + "\n"


def _advice(monitor: LatencyMonitor) -> list[str]:
    advice = []
    if "command" in monitor.events or "fast-command" in monitor.events:
        advice.append(
            "- Slow commands: SLOWLOG GET lists them; KEYS, SCAN with a large COUNT, "
            "FLUSHALL and very large values take time proportional to their size."
        )
    if "expire-cycle" in monitor.events:
        advice.append(
            "- Many keys expire at the same time: spread their expiry times (add a random "
            "part to the TTLs)."
        )
    if "eviction-cycle" in monitor.events:
        advice.append("- Evicting keys under maxmemory takes time: raise maxmemory.")
    if any(name.startswith("aof") for name in monitor.events):
        advice.append(
            "- The disk is slow to write or fsync the append-only log: a faster disk, or "
            "appendfsync everysec."
        )
    return advice


def _containers() -> set[str]:
    return {name.decode() for name in SUBCOMMAND_TABLES}


def _histogram_reply(histogram: list[int]) -> Reply:
    buckets: dict[int, Reply] = dict(cumulative_buckets(histogram))
    return {b"calls": sum(histogram), b"histogram_usec": buckets}  # type: ignore[dict-item]


def _histogram(session: Session, args: Args) -> Reply:
    """Each command's histogram with calls (by full name; a container stands for its
    subcommands); unknown names are skipped, as Redis does."""
    histograms = session.server.stats.histograms
    containers = _containers()
    if len(args) == 2:
        wanted = [name for name in histograms if name not in containers]
    else:
        wanted = []
        for raw in args[2:]:
            name = raw.decode("utf-8", "replace").lower()
            container, _, sub = name.partition("|")
            if container in containers and not sub:
                wanted += [n for n in histograms if n.startswith(container + "|")]
            elif name.encode() in COMMANDS or (
                sub and sub.encode() in SUBCOMMAND_TABLES.get(container.encode(), {})
            ):
                wanted.append(name)
    reply: dict[bytes, Reply] = {}
    for name in dict.fromkeys(wanted):
        histogram = histograms.get(name)
        if histogram is not None and any(histogram):
            reply[name.encode()] = _histogram_reply(histogram)
    return reply


@info_section("latencystats", default=False)
def _latencystats(session: Session) -> InfoFields:
    """Each command's percentiles (``latency-tracking-info-percentiles``), in microseconds:
    the upper bound of the histogram's bucket (a power of two of nanoseconds) holding it."""
    stats = session.server.stats
    containers = _containers()
    fields: dict[str, str | int] = {}
    for name, histogram in stats.histograms.items():
        if name in containers or not any(histogram):
            continue
        fields[f"latency_percentiles_usec_{name}"] = ",".join(
            f"p{format_percentile(p)}={percentile_us(histogram, p):.3f}"
            for p in stats.info_percentiles
        )
    return fields


def _help(session: Session, args: Args) -> Reply:
    return [Status(line) for line in HELP]


_LATENCY: Subcommands = {
    b"latest": (2, _latest),
    b"history": (3, _history),
    b"graph": (3, _graph),
    b"reset": (-2, _reset),
    b"doctor": (2, _doctor),
    b"histogram": (-2, _histogram),
    b"help": (2, _help),
}


SUBCOMMAND_TABLES[b"latency"] = _LATENCY


@command("latency", -2, "admin loading stale", group="server", summary="Latency events.")
def latency(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_LATENCY, session, args)
