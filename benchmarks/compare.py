"""``python -m benchmarks.compare``: kvstore and Redis side by side, as ratios.

Starts a ``redis-server`` and a kvstore ``./server`` with equivalent settings, runs
``redis-benchmark`` against each in turn (interleaved rounds), measures memory and restart time,
then writes ``docs/benchmarks/<name>.json`` and ``.png`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import chart, figures, machine, memory, report, targets, throughput, wire
from benchmarks.servers import (
    ROOT,
    Capabilities,
    Pairing,
    ServerSet,
    kvstore_help,
    pairings,
    redis_tools_available,
)

DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks"
#: A 1-minute load average above this before the run means something else was running.
BUSY_LOAD = 0.5
NAMES = {"default": "latest", "quick": "quick", "smoke": "smoke"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description="Benchmark kvstore against Redis on this machine and report the ratios.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer rounds, requests and keys")
    size.add_argument(
        "--smoke", action="store_true", help="one round of a few hundred requests (for tests)"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="run only the figures matching these comma-separated patterns: "
        + ", ".join([f.name for f in figures.FIGURES] + list(figures.MEMORY_FIGURES)),
    )
    parser.add_argument("--pairing", choices=("all", "aof", "memory"), default="all")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default: the mode's)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results directory")
    parser.add_argument("--name", help="file name stem (default: latest, quick or smoke)")
    parser.add_argument(
        "--update-readme", action="store_true", help="rewrite the README's benchmark section"
    )
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help=argparse.SUPPRESS)
    parser.add_argument(
        "--note", action="append", default=[], help="a note to print with the results"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="measure nothing: print (and with --update-readme, publish) earlier results",
    )
    return parser.parse_args(argv)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_memory(
    server_set: ServerSet,
    chosen: list[str],
    *,
    mode: figures.Mode,
    caps: Capabilities,
    by_name: dict[str, Pairing],
    fd_note: str | None,
) -> dict[str, Any]:
    """The chosen memory figures; one that fails is recorded as skipped, with the reason."""
    labels = {
        "mem-key": f"memory per key ({mode.memory_keys:,} keys, 16 B keys, 32 B values)",
        "mem-conn": f"memory per idle connection ({mode.connections:,} connections)",
        "restart": f"restart with {mode.restart_keys:,} keys (append-only log)",
    }
    results: dict[str, Any] = {}
    for name in chosen:
        label = labels[name]
        if name == "mem-conn" and fd_note:
            results[name] = {"label": label, "skipped": fd_note}
            continue
        _say(label)
        try:
            if name == "mem-key":
                entry = memory.memory_per_key(server_set, by_name["memory"], mode.memory_keys)
                verdict = targets.verdict(targets.memory_target(name), entry["ratio"])
            elif name == "mem-conn":
                entry = memory.memory_per_connection(
                    server_set, by_name["memory"], mode.connections
                )
                value = entry["kvstore"]["per_item"]
                verdict = targets.verdict(targets.memory_target(name), value)
            else:
                entry, verdict = _restart(server_set, by_name["aof"], caps, mode.restart_keys), {}
        except (RuntimeError, OSError, wire.ServerReplyError) as exc:
            _say(f"  {name}: failed: {exc}")
            results[name] = {"label": label, "skipped": f"failed: {exc}"}
            continue
        results[name] = {"label": label, **entry, **verdict}
    return results


def _restart(server_set: ServerSet, aof: Pairing, caps: Capabilities, keys: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"redis": memory.restart_time(server_set, aof, "redis", keys)}
    if caps.persistence:
        entry["kvstore"] = memory.restart_time(server_set, aof, "kvstore", keys)
        entry["ratio"] = entry["kvstore"]["seconds"] / entry["redis"]["seconds"]
    else:
        entry["kvstore"] = None
        entry["note"] = "kvstore persistence not available"
    return entry


def collect_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure that has a target, flattened: what was measured against what."""
    found = []
    for pairing in results["pairings"]:
        for figure in pairing["figures"]:
            for test, metrics in figure.get("tests", {}).items():
                for metric, entry in metrics.items():
                    if entry.get("target"):
                        found.append(
                            {
                                "pairing": pairing["name"],
                                "figure": figure["name"],
                                "test": test,
                                "metric": metric,
                                "value": entry["ratio"]["median"] if entry["ratio"] else None,
                                "target": entry["target"],
                                "passed": entry["passed"],
                            }
                        )
            server_cpu = figure.get("cpu_us_per_request", {}).get("server", {})
            if server_cpu.get("target"):
                found.append(
                    {
                        "pairing": pairing["name"],
                        "figure": figure["name"],
                        "test": "SET+GET",
                        "metric": "cpu",
                        "value": server_cpu["ratio"]["median"] if server_cpu["ratio"] else None,
                        "target": server_cpu["target"],
                        "passed": server_cpu["passed"],
                    }
                )
    for name, entry in results.get("memory", {}).items():
        if entry.get("target"):
            value = entry["kvstore"]["per_item"] if name == "mem-conn" else entry["ratio"]
            found.append(
                {
                    "figure": name,
                    "value": value,
                    "target": entry["target"],
                    "passed": entry["passed"],
                }
            )
    return found


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the cleanup below, as a Ctrl-C does


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        earlier: dict[str, Any] = json.loads(args.from_json.read_text())
        png = args.from_json.with_suffix(".png")
        print(report.markdown(earlier))
        if args.update_readme:
            publish(earlier, args.readme, png if earlier.get("chart") else None)
        return 0
    if not redis_tools_available():
        print("redis-server and redis-benchmark are needed (Debian: redis-server, redis-tools)")
        return 2
    mode = figures.MODES["smoke" if args.smoke else "quick" if args.quick else "default"]
    patterns = [p for item in (args.only or list(mode.default_only)) for p in item.split(",") if p]
    chosen = figures.figures_for(mode, patterns)
    chosen_memory = figures.memory_figures_for(mode, patterns)
    if not chosen and not chosen_memory:
        print(f"no figure matches {patterns}")
        return 2
    rounds = args.rounds or mode.rounds
    caps = Capabilities.from_help(kvstore_help())
    all_pairings = pairings(caps)
    by_name = {pairing.name: pairing for pairing in all_pairings}
    run_pairings = [p for p in all_pairings if args.pairing in ("all", p.name)] if chosen else []
    notes = list(args.note)
    notes.append(
        "redis-benchmark runs on the same 2 cores as the server it measures, and is often the "
        "bottleneck for Redis: ratios near 1 understate Redis's lead."
        if (machine.machine()["cores"] or 0) <= 2
        else "redis-benchmark runs on the same machine as the server it measures."
    )
    fd_note = None
    if "mem-conn" in chosen_memory:
        fd_note = memory.raise_descriptor_limit(mode.connections)
        if fd_note:
            notes.append(f"memory per idle connection skipped: {fd_note}")
    signal.signal(signal.SIGTERM, _terminate)
    started, load_start = time.monotonic(), machine.load_average()
    if load_start[0] > BUSY_LOAD:
        notes.append(
            f"the machine was busy: its 1-minute load average was {load_start[0]} before the "
            "run started, so throughput varies from round to round; CPU time per request "
            "varies much less"
        )
    results: dict[str, Any] = {
        "schema": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode.name,
        "rounds": rounds,
        "machine": machine.machine(),
        "versions": machine.versions(),
        "kvstore_capabilities": vars(caps),
    }
    server_set = ServerSet(caps, maxclients=max(10_000, mode.connections + 128))
    try:
        results["pairings"] = [
            throughput.run_pairing(server_set, pairing, chosen, rounds) for pairing in run_pairings
        ]
        results["memory"] = run_memory(
            server_set, chosen_memory, mode=mode, caps=caps, by_name=by_name, fd_note=fd_note
        )
    except KeyboardInterrupt:
        _say("interrupted: stopping the servers")
        return 130
    finally:
        server_set.close()
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    results["load_average"] = {"start": load_start, "end": machine.load_average()}
    results["notes"] = notes
    results["targets"] = collect_targets(results)
    return write(results, args)


def write(results: dict[str, Any], args: argparse.Namespace) -> int:
    stem = args.name or NAMES[results["mode"]]
    args.output.mkdir(parents=True, exist_ok=True)
    png = args.output / f"{stem}.png"
    chart_note = chart.draw(results, png)
    if chart_note:
        results["notes"].append(chart_note)
    results["chart"] = None if chart_note else png.name
    json_path = args.output / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    print(report.markdown(results))
    _say(f"wrote {json_path}" + ("" if chart_note else f" and {png}"))
    if args.update_readme:
        publish(results, args.readme, None if chart_note else png)
    return 0


def publish(results: dict[str, Any], readme: Path, png: Path | None) -> None:
    """Rewrite the README's benchmark section, linking the chart relative to the README."""
    readme = readme.resolve()
    link = None
    if png is not None:
        try:
            link = png.resolve().relative_to(readme.parent).as_posix()
        except ValueError:
            link = png.resolve().as_posix()
    report.update_readme(readme, report.readme_section(results, link))
    _say(f"updated {readme}")


if __name__ == "__main__":
    sys.exit(main())
