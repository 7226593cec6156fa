"""The project's performance targets, checked against the measured ratios."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KIB = 1024


@dataclass(frozen=True)
class Target:
    name: str
    #: A throughput figure's name, or a memory figure's.
    figure: str
    #: "rps", "mbps", "p99_ms" or "cpu" (server CPU per request) for throughput figures;
    #: "ratio" or "kvstore" for memory ones.
    metric: str
    #: ">=" or "<=".
    op: str
    threshold: float
    #: "ratio" compares kvstore/Redis; "absolute" compares kvstore's own value.
    kind: str = "ratio"

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def describe(self) -> str:
        if self.kind == "absolute":
            return f"{self.op} {self.threshold / KIB:g} KiB"
        return f"{self.op} {self.threshold:g}x"


# The "Speed" issue's targets: kvstore at least as fast as Redis on the same machine.
THROUGHPUT_TARGETS = (
    Target("ops/s, 50 clients unpipelined", "c50", "rps", ">=", 1.0),
    Target("ops/s, pipeline 16", "p16", "rps", ">=", 1.0),
    Target("ops/s, 1000 clients", "c1000", "rps", ">=", 1.0),
    Target("p99 latency, 50 clients unpipelined", "c50", "p99_ms", "<=", 1.2),
    Target("MB/s, 1 MiB values", "v1m", "mbps", ">=", 0.95),
    Target("server CPU per request, 50 clients unpipelined", "c50", "cpu", "<=", 1.0),
    Target("server CPU per request, pipeline 16", "p16", "cpu", "<=", 1.0),
)
MEMORY_TARGETS = (
    Target("memory per key", "mem-key", "ratio", "<=", 1.2),
    Target("memory per idle connection", "mem-conn", "kvstore", "<=", 10 * KIB, "absolute"),
)


def throughput_target(figure: str, metric: str) -> Target | None:
    for target in THROUGHPUT_TARGETS:
        if target.figure == figure and target.metric == metric:
            return target
    return None


def memory_target(figure: str) -> Target | None:
    for target in MEMORY_TARGETS:
        if target.figure == figure:
            return target
    return None


def verdict(target: Target | None, value: float | None, comparable: bool = True) -> dict[str, Any]:
    """The target's JSON entry: its description and whether ``value`` meets it (None when there
    is no target, no value, or the settings are not comparable)."""
    if target is None:
        return {"target": None, "passed": None}
    passed = target.passes(value) if value is not None and comparable else None
    return {"target": target.describe(), "passed": passed}
