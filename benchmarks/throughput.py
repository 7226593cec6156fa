"""The redis-benchmark figures for one pairing: both servers up side by side, and for each figure
the same workload run against Redis then kvstore, round after round."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import redis_benchmark, targets, wire
from benchmarks.figures import TESTS, Figure
from benchmarks.servers import Pairing, Server, ServerSet, children_cpu_seconds, cpu_seconds
from benchmarks.stats import Comparison

#: Metrics kept per test: throughput (ops/s and MB/s of values) and latency percentiles.
METRICS = ("rps", "mbps", "p50_ms", "p99_ms")
KINDS = ("redis", "kvstore")

Progress = Callable[[str], None]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _metrics(result: redis_benchmark.TestResult, value_size: int) -> dict[str, float]:
    return {
        "rps": result.rps,
        "mbps": result.rps * value_size / 1e6,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
    }


def _prepare(servers: dict[str, Server], figure: Figure) -> None:
    """Start each figure from an empty keyspace (plus its keys, when it wants them loaded)."""
    batches = list(wire.set_commands(figure.keyspace, figure.value_size)) if figure.prefill else []
    for server in servers.values():
        with wire.connect(server.port, timeout=120.0) as sock:
            wire.call(sock, "FLUSHALL")
        if figure.prefill:
            wire.load(server.port, batches, figure.keyspace)


def _summarise(
    figure: Figure, samples: dict[str, list[dict[str, dict[str, float]]]], comparable: bool
) -> dict[str, Any]:
    tests: dict[str, Any] = {}
    for test in TESTS:
        tests[test] = {}
        for metric in METRICS:
            comparison = Comparison(
                redis=[round_[test][metric] for round_ in samples["redis"]],
                kvstore=[round_[test][metric] for round_ in samples["kvstore"]],
            )
            entry = comparison.as_dict()
            ratio = entry["ratio"]["median"] if entry["ratio"] else None
            entry.update(
                targets.verdict(targets.throughput_target(figure.name, metric), ratio, comparable)
            )
            tests[test][metric] = entry
    return tests


def run_figure(
    servers: dict[str, Server], figure: Figure, rounds: int, comparable: bool, say: Progress
) -> dict[str, Any]:
    workload = figure.workload()
    entry: dict[str, Any] = {
        "name": figure.name,
        "label": figure.label,
        "unit": "MB/s" if figure.in_megabytes else "ops/s",
        "params": {
            "clients": figure.clients,
            "pipeline": figure.pipeline,
            "value_size": figure.value_size,
            "keyspace": figure.keyspace,
            "requests": figure.requests,
            "prefill": figure.prefill,
        },
        "error": None,
    }
    samples: dict[str, list[dict[str, dict[str, float]]]] = {kind: [] for kind in KINDS}
    cpu: dict[str, dict[str, list[float]]] = {k: {"server": [], "client": []} for k in KINDS}
    started = time.monotonic()
    try:
        _prepare(servers, figure)
        for number in range(1, rounds + 1):
            for kind in KINDS:  # interleaved: Redis, kvstore, Redis, kvstore, ...
                server_cpu, client_cpu = cpu_seconds(servers[kind].pid), children_cpu_seconds()
                results = redis_benchmark.run(servers[kind].port, workload)
                samples[kind].append(
                    {test: _metrics(results[test], figure.value_size) for test in TESTS}
                )
                per_request = 1e6 / (workload.requests * len(TESTS))
                cpu[kind]["server"].append(
                    (cpu_seconds(servers[kind].pid) - server_cpu) * per_request
                )
                cpu[kind]["client"].append((children_cpu_seconds() - client_cpu) * per_request)
            say(f"  {figure.name} round {number}/{rounds}: " + _round_line(samples))
    except (redis_benchmark.BenchmarkError, OSError, wire.ServerReplyError) as exc:
        entry["error"] = str(exc)
        say(f"  {figure.name}: failed: {exc}")
        return entry
    entry["tests"] = _summarise(figure, samples, comparable)
    entry["cpu_us_per_request"] = {
        side: Comparison(redis=cpu["redis"][side], kvstore=cpu["kvstore"][side]).as_dict()
        for side in ("server", "client")
    }
    server = entry["cpu_us_per_request"]["server"]
    server.update(
        targets.verdict(
            targets.throughput_target(figure.name, "cpu"),
            server["ratio"]["median"] if server["ratio"] else None,
            comparable,
        )
    )
    entry["seconds"] = round(time.monotonic() - started, 1)
    say(f"  {figure.name}: {entry['seconds']} s")
    return entry


def _round_line(samples: dict[str, list[dict[str, dict[str, float]]]]) -> str:
    parts = []
    for test in TESTS:
        redis, kvstore = samples["redis"][-1][test]["rps"], samples["kvstore"][-1][test]["rps"]
        parts.append(f"{test} {kvstore:,.0f}/{redis:,.0f} ops/s = {kvstore / redis:.2f}x")
    return "; ".join(parts)


def run_pairing(
    server_set: ServerSet,
    pairing: Pairing,
    figures: list[Figure],
    rounds: int,
    say: Progress = _say,
) -> dict[str, Any]:
    """Start both servers with the pairing's settings, run every figure, stop them."""
    result: dict[str, Any] = {
        "name": pairing.name,
        "description": pairing.description,
        "comparable": pairing.comparable,
        "note": pairing.note or None,
        "args": {"redis": list(pairing.redis_args), "kvstore": list(pairing.kvstore_args)},
        "figures": [],
    }
    say(
        f"pairing {pairing.name}: {pairing.description}"
        + (f" ({pairing.note})" if pairing.note else "")
    )
    servers = {kind: server_set.start(kind, pairing) for kind in KINDS}
    try:
        result["banner"] = {kind: server.banner() for kind, server in servers.items()}
        for figure in figures:
            dead = [kind for kind, server in servers.items() if not server.alive()]
            if dead:
                error = f"{', '.join(dead)} stopped: {servers[dead[0]].log_tail(5)}"
                result["figures"].append(
                    {"name": figure.name, "label": figure.label, "error": error}
                )
                continue
            result["figures"].append(run_figure(servers, figure, rounds, pairing.comparable, say))
    finally:
        for server in servers.values():
            server_set.discard(server)
    return result
