"""``python -m benchmarks.ceiling``: how close kvstore comes to the fastest a Python server can be.

Runs ``redis-server``, the GET/SET-only ``benchmarks.bare_server`` (uvloop and hiredis, no
expiry, statistics, log or limits) and kvstore with persistence off, side by side, interleaved
round by round (Redis, bare, kvstore, Redis, ...), for 50 clients unpipelined and with ``-P 16``.
Prints each server's median ops/s and its ratio to Redis, and writes
``docs/benchmarks/ceiling.json``. The bare server's ratio is the ceiling for any server written
in Python on this machine; kvstore's ratio to the bare server is what its features cost::

    .venv/bin/python -m benchmarks.ceiling [--rounds 5] [--only c50,p16]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import figures, machine, redis_benchmark
from benchmarks.compare import DEFAULT_OUTPUT
from benchmarks.servers import (
    Capabilities,
    ServerSet,
    cpu_seconds,
    kvstore_help,
    pairings,
    redis_tools_available,
)
from benchmarks.stats import Spread, paired_ratios

KINDS = ("redis", "bare", "kvstore")


def _medians(rounds: dict[str, list[float]]) -> dict[str, Any]:
    """Each server's spread over the rounds, and the paired ratios (None where a denominator
    was 0 in every round, as CPU time can be over a few hundred requests)."""
    entry: dict[str, Any] = {kind: Spread.of(values).as_dict() for kind, values in rounds.items()}
    for top, bottom in (("bare", "redis"), ("kvstore", "redis"), ("kvstore", "bare")):
        ratios = paired_ratios(rounds[top], rounds[bottom])
        entry[f"{top}/{bottom}"] = Spread.of(ratios).as_dict() if ratios else None
    return entry


def run(rounds: int, patterns: list[str], mode: figures.Mode) -> dict[str, Any]:
    caps = Capabilities.from_help(kvstore_help())
    memory = {pairing.name: pairing for pairing in pairings(caps)}["memory"]
    server_set = ServerSet(caps, maxclients=10_000)
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode.name,
        "rounds": rounds,
        "machine": machine.machine(),
        "versions": machine.versions(),
        "figures": {},
    }
    try:
        servers = {
            "redis": server_set.start("redis", memory),
            "bare": server_set.start("bare", memory),
            "kvstore": server_set.start("kvstore", memory),
        }
        for figure in figures.figures_for(mode, patterns):
            samples: dict[str, dict[str, list[float]]] = {
                test: {kind: [] for kind in KINDS} for test in figures.TESTS
            }
            cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
            workload = figure.workload()
            for number in range(1, rounds + 1):
                for kind in KINDS:
                    before = cpu_seconds(servers[kind].pid)
                    measured = redis_benchmark.run(servers[kind].port, workload)
                    spent = cpu_seconds(servers[kind].pid) - before
                    cpu[kind].append(spent * 1e6 / (workload.requests * len(figures.TESTS)))
                    for test in figures.TESTS:
                        samples[test][kind].append(measured[test].rps)
                line = "; ".join(
                    f"{test} " + " / ".join(f"{samples[test][k][-1]:,.0f}" for k in KINDS)
                    for test in figures.TESTS
                )
                print(f"  {figure.name} round {number}/{rounds} ({'/'.join(KINDS)}): {line}")
            results["figures"][figure.name] = {
                "label": figure.label,
                **{test: _medians(samples[test]) for test in figures.TESTS},
                "cpu_us_per_request": _medians(cpu),
            }
    finally:
        server_set.close()
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "| figure | test | Redis ops/s | bare Python ops/s (/Redis) | kvstore ops/s (/Redis) "
        "| kvstore/bare |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for figure in results["figures"].values():
        for test in figures.TESTS:
            entry = figure[test]
            lines.append(
                f"| {figure['label']} | {test} | {entry['redis']['median']:,.0f} "
                f"| {entry['bare']['median']:,.0f} ({entry['bare/redis']['median']:.2f}x) "
                f"| {entry['kvstore']['median']:,.0f} ({entry['kvstore/redis']['median']:.2f}x) "
                f"| {entry['kvstore/bare']['median']:.2f}x |"
            )
    lines += [
        "",
        "| server CPU time per request (µs, SET and GET) | Redis | bare Python | kvstore "
        "| kvstore/bare |",
        "|---|---:|---:|---:|---:|",
    ]
    for figure in results["figures"].values():
        cpu = figure["cpu_us_per_request"]
        lines.append(
            f"| {figure['label']} | {cpu['redis']['median']:.2f} | {cpu['bare']['median']:.2f} "
            f"| {cpu['kvstore']['median']:.2f} | {_ratio(cpu['kvstore/bare'])} |"
        )
    return "\n".join(lines)


def _ratio(spread: dict[str, float] | None) -> str:
    return "n/a" if spread is None else f"{spread['median']:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling", description=__doc__)
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 5; smoke: 1)")
    parser.add_argument(
        "--smoke", action="store_true", help="one round of a few hundred requests (for tests)"
    )
    parser.add_argument("--only", default="c50,p16", help="figure patterns, comma-separated")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT / "ceiling.json")
    args = parser.parse_args()
    if not redis_tools_available():
        print("redis-server and redis-benchmark are needed (Debian: redis-server, redis-tools)")
        return 2
    mode = figures.MODES["smoke" if args.smoke else "default"]
    results = run(args.rounds or (1 if args.smoke else 5), args.only.split(","), mode)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
