"""benchmarks/replication.py runs end to end (tiny sizes: this checks the harness, not speed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="needs redis-benchmark")
def test_the_replication_figures_come_out(tmp_path: Path) -> None:
    output = tmp_path / "replication.json"
    sizes = ["--keys", "500", "--requests", "3000", "--waits", "20"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.replication", *sizes, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(output.read_text())
    assert figures["throughput_and_lag"]["ratio"] > 0
    assert figures["throughput_and_lag"]["lag_samples"] >= 0
    assert figures["wait_1_0"]["waits"] == 20
    assert figures["full_copy"]["keys"] == 500
    assert figures["full_copy"]["kvstore_seconds"] > 0
