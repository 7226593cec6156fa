"""The results as Markdown tables, and the README's benchmark section between its markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START_MARKER = "<!-- benchmarks:start -->"
END_MARKER = "<!-- benchmarks:end -->"
KIB = 1024


def rate(value: float, unit: str) -> str:
    if unit == "MB/s":
        return f"{value:,.1f} MB/s"
    return f"{value / 1000:,.1f}k ops/s" if value >= 1000 else f"{value:,.0f} ops/s"


def size(value: float) -> str:
    return f"{value / KIB:,.2f} KiB" if abs(value) >= KIB else f"{value:,.0f} B"


def ratio(spread: dict[str, float] | None, with_range: bool = True) -> str:
    if spread is None:
        return "n/a"
    text = f"{spread['median']:.2f}x"
    if with_range and spread["low"] != spread["high"]:
        text += f" ({spread['low']:.2f}-{spread['high']:.2f})"
    return text


def verdict(entry: dict[str, Any], label: str = "") -> str:
    """``≥ 0.95x: pass``; an empty string when no target applies."""
    if entry.get("target") is None:
        return ""
    prefix = f"{label} " if label else ""
    outcome = {True: "pass", False: "**fail**", None: "not judged"}[entry.get("passed")]
    return f"{prefix}{entry['target']}: {outcome}"


def _pairing_table(pairing: dict[str, Any]) -> list[str]:
    title = f"#### Pairing `{pairing['name']}`: {pairing['description']}"
    lines = [title, ""]
    if pairing.get("note") and not pairing["comparable"]:
        lines += [f"**{pairing['note']}**: kvstore ran without it; no pass/fail.", ""]
    elif pairing.get("note"):
        lines += [f"Note: {pairing['note']}.", ""]
    lines += [
        "| figure | test | Redis | kvstore | kvstore/Redis (min-max) "
        "| p50 ms Redis / kvstore | p99 ms Redis / kvstore (ratio) | target |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for figure in pairing["figures"]:
        if figure.get("error"):
            lines.append(f"| {figure['label']} | | | | failed: {figure['error'][:80]} | | | |")
            continue
        unit = figure["unit"]
        metric = "mbps" if unit == "MB/s" else "rps"
        for test, metrics in figure["tests"].items():
            speed, p50, p99 = metrics[metric], metrics["p50_ms"], metrics["p99_ms"]
            targets = [verdict(speed, "ops/s" if metric == "rps" else "MB/s"), verdict(p99, "p99")]
            lines.append(
                f"| {figure['label']} | {test} "
                f"| {rate(speed['redis']['median'], unit)} "
                f"| {rate(speed['kvstore']['median'], unit)} "
                f"| {ratio(speed['ratio'])} "
                f"| {p50['redis']['median']:.3f} / {p50['kvstore']['median']:.3f} "
                f"| {p99['redis']['median']:.3f} / {p99['kvstore']['median']:.3f} "
                f"({ratio(p99['ratio'], with_range=False)}) "
                f"| {'; '.join(t for t in targets if t)} |"
            )
    return [*lines, "", *_cpu_table(pairing)]


def _cpu_table(pairing: dict[str, Any]) -> list[str]:
    """CPU time per request: less sensitive than throughput to what else the machine runs."""
    measured = [f for f in pairing["figures"] if "cpu_us_per_request" in f]
    if not measured:
        return []
    lines = [
        "| CPU time per request (µs) | Redis | kvstore | kvstore/Redis (min-max) "
        "| redis-benchmark, against Redis / kvstore | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for figure in measured:
        server, client = (figure["cpu_us_per_request"][side] for side in ("server", "client"))
        lines.append(
            f"| {figure['label']} | {server['redis']['median']:.2f} "
            f"| {server['kvstore']['median']:.2f} | {ratio(server['ratio'])} "
            f"| {client['redis']['median']:.2f} / {client['kvstore']['median']:.2f} "
            f"| {verdict(server, 'server CPU')} |"
        )
    return [*lines, ""]


def _memory_rows(memory: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in memory.items():
        label = entry.get("label", name)
        if entry.get("skipped"):
            rows.append(f"| {label} | | | | skipped: {entry['skipped']} |")
            continue
        if name == "restart":
            redis, kvstore = entry.get("redis"), entry.get("kvstore")
            redis_text = f"{redis['seconds']:.2f} s" if redis else "n/a"
            kvstore_text = (
                f"{kvstore['seconds']:.2f} s" if kvstore else f"skipped: {entry.get('note')}"
            )
            rows.append(
                f"| {label} | {redis_text} | {kvstore_text} "
                f"| {ratio(_as_spread(entry.get('ratio')))} | |"
            )
            continue
        rows.append(
            f"| {label} | {size(entry['redis']['per_item'])} "
            f"| {size(entry['kvstore']['per_item'])} "
            f"| {ratio(_as_spread(entry.get('ratio')))} | {verdict(entry)} |"
        )
    return rows


def _as_spread(value: float | None) -> dict[str, float] | None:
    return None if value is None else dict.fromkeys(("median", "low", "high"), value)


def tables(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for pairing in results["pairings"]:
        lines += _pairing_table(pairing)
    if results.get("memory"):
        lines += [
            "#### Memory and restart",
            "",
            "| figure | Redis | kvstore | kvstore/Redis | target |",
            "|---|---:|---:|---:|---|",
            *_memory_rows(results["memory"]),
            "",
        ]
    judged = [t for t in results.get("targets", []) if t["passed"] is not None]
    met = sum(1 for t in judged if t["passed"])
    lines.append(f"Targets met: {met} of {len(judged)} judged.")
    return "\n".join(lines) + "\n"


def describe_run(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    shown = ", ".join(f"{name} {value or 'not installed'}" for name, value in versions.items())
    load = results["load_average"]
    rounds = results["rounds"]
    lines = [
        f"- **When**: {results['date']}, `{results['mode']}` mode, {rounds} "
        f"round{'s' if rounds != 1 else ''} per figure, "
        f"{results['duration_seconds'] / 60:.1f} min in all.",
        f"- **Machine**: {machine['cores']} cores, {machine['cpu']}, {machine['system']}; "
        f"1-minute load average {load['start'][0]} at the start, {load['end'][0]} at the end.",
        f"- **Versions**: {shown}.",
    ]
    lines += [f"- **Note**: {note.rstrip('.')}." for note in results.get("notes", [])]
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    return describe_run(results) + "\n" + tables(results)


def readme_section(results: dict[str, Any], chart: str | None) -> str:
    parts = ["### Latest results\n", describe_run(results)]
    if chart:
        parts.append(f"![kvstore/Redis ratios]({chart})\n")
    parts.append(tables(results))
    return "\n".join(parts)


def update_readme(path: Path, section: str) -> None:
    """Replace what lies between the markers with ``section``; the markers must be there."""
    text = path.read_text()
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"{path} lacks the {START_MARKER} ... {END_MARKER} markers")
    head = text[: start + len(START_MARKER)]
    path.write_text(f"{head}\n{section.rstrip()}\n{text[end:]}")
