"""What is measured: the throughput figures, the memory figures, and how each mode sizes them.

Request counts are sized so one redis-benchmark run (SET then GET) takes a second or two on a
2-core machine, where redis-benchmark itself takes one of the cores.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

from benchmarks.redis_benchmark import Workload

TESTS = ("SET", "GET")
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    clients: int = 50
    pipeline: int = 1
    value_size: int = 16
    keyspace: int = 1000
    requests: int = 100_000
    #: Load every key of the keyspace before the rounds, so GET hits (SET fills small ones).
    prefill: bool = False
    #: Throughput shown in MB/s (value bytes moved) rather than operations per second.
    in_megabytes: bool = False

    def workload(self) -> Workload:
        return Workload(
            TESTS, self.requests, self.clients, self.pipeline, self.value_size, self.keyspace
        )


FIGURES = (
    Figure("c50", "50 clients, unpipelined", requests=150_000),
    Figure("p16", "50 clients, pipeline 16", pipeline=16, requests=800_000),
    Figure("c1", "1 client", clients=1, requests=80_000),
    Figure("c10", "10 clients", clients=10, requests=120_000),
    Figure("c200", "200 clients", clients=200, requests=120_000),
    Figure("c1000", "1000 clients", clients=1000, requests=100_000),
    Figure("v1k", "1 KiB values", value_size=KIB, requests=120_000, in_megabytes=True),
    Figure("v64k", "64 KiB values", value_size=64 * KIB, requests=16_000, in_megabytes=True),
    # 100 keys of 1 MiB keep each server's data at 100 MiB.
    Figure("v1m", "1 MiB values", value_size=MIB, keyspace=100, requests=800, in_megabytes=True),
    Figure("keys", "1,000,000 keys", keyspace=1_000_000, requests=120_000, prefill=True),
)

#: The figures that are not redis-benchmark runs, by the name ``--only`` matches.
MEMORY_FIGURES = ("mem-key", "mem-conn", "restart")


@dataclass(frozen=True)
class Mode:
    name: str
    rounds: int
    #: Multiplies each figure's request count.
    scale: float
    large_keyspace: int
    memory_keys: int
    connections: int
    restart_keys: int
    #: Figures run when ``--only`` is not given.
    default_only: tuple[str, ...] = ("*",)
    memory: bool = True
    fixed_requests: int | None = None


MODES = {
    "default": Mode("default", 5, 1.0, 1_000_000, 1_000_000, 10_000, 1_000_000),
    "quick": Mode("quick", 3, 0.25, 100_000, 200_000, 2_000, 200_000),
    # Enough requests that a pipelined run on Redis lasts well over redis-benchmark's 1 ms clock.
    "smoke": Mode("smoke", 1, 1.0, 1000, 0, 0, 0, ("c50",), False, fixed_requests=10_000),
}


def select(patterns: list[str], names: list[str]) -> list[str]:
    """The names matching any of the shell-style patterns, in their given order."""
    return [name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]


def figures_for(mode: Mode, patterns: list[str]) -> list[Figure]:
    chosen = set(select(patterns, [figure.name for figure in FIGURES]))
    result = []
    for figure in FIGURES:
        if figure.name not in chosen:
            continue
        requests = mode.fixed_requests or max(int(figure.requests * mode.scale), 4 * figure.clients)
        sized = replace(figure, requests=requests)
        if figure.prefill:
            sized = replace(
                sized, keyspace=mode.large_keyspace, label=f"{mode.large_keyspace:,} keys"
            )
        result.append(sized)
    return result


def memory_figures_for(mode: Mode, patterns: list[str]) -> list[str]:
    return select(patterns, list(MEMORY_FIGURES)) if mode.memory else []
