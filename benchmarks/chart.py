"""A PNG of the kvstore/Redis throughput ratios, when matplotlib (extra ``bench``) is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"SET": "#4c72b0", "GET": "#dd8452"}


def draw(results: dict[str, Any], path: Path) -> str | None:
    """Write the chart; return a note saying why not, or None once written."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
        from matplotlib.ticker import FuncFormatter  # noqa: PLC0415
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install -e '.[bench]')"
    FORMATTER = FuncFormatter(lambda value, _: f"{value:g}x")  # noqa: N806
    pairings = [p for p in results["pairings"] if any("tests" in f for f in p["figures"])]
    if not pairings:
        return "chart skipped: no throughput figure was measured"
    rows = max(len(p["figures"]) for p in pairings)
    fig, axes = plt.subplots(
        1, len(pairings), figsize=(6.5 * len(pairings), 1.2 + 0.55 * rows), squeeze=False
    )
    for axis, pairing in zip(axes[0], pairings, strict=True):
        figures = [f for f in pairing["figures"] if "tests" in f]
        for offset, test in ((-0.2, "SET"), (0.2, "GET")):
            medians, low_err, high_err = [], [], []
            for figure in figures:
                metric = "mbps" if figure["unit"] == "MB/s" else "rps"
                spread = figure["tests"][test][metric]["ratio"]
                medians.append(spread["median"])
                low_err.append(spread["median"] - spread["low"])
                high_err.append(spread["high"] - spread["median"])
            positions = [index + offset for index in range(len(figures))]
            axis.barh(
                positions,
                medians,
                height=0.4,
                xerr=[low_err, high_err],
                color=COLOURS[test],
                label=test,
                capsize=2,
            )
        axis.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        # A log scale shows 0.5x and 2x as equally far from parity.
        axis.set_xscale("log", base=2)
        axis.xaxis.set_major_formatter(FORMATTER)
        axis.set_yticks(range(len(figures)), [f["label"] for f in figures])
        axis.invert_yaxis()
        axis.set_xlabel("kvstore / Redis throughput (median, min-max)")
        title = f"{pairing['name']}: {pairing['description']}"
        if pairing.get("note"):
            title += f"\n({pairing['note']})"
        axis.set_title(title, fontsize=10)
        axis.legend(loc="lower right")
    fig.suptitle(f"kvstore vs Redis, {results['date'][:10]}", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
