"""Run ``redis-benchmark`` against one server and parse its ``--csv`` output.

redis-benchmark 7 prints one header row and one row per test::

    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
    "p99_latency_ms","max_latency_ms"
    "SET","89686.09","0.410","0.016","0.223","0.711","4.719","12.719"
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
from dataclasses import dataclass

from benchmarks import children

#: How long one redis-benchmark run may take before it counts as failed.
RUN_TIMEOUT = 300.0


class BenchmarkError(Exception):
    """redis-benchmark failed or printed nothing usable."""


@dataclass(frozen=True)
class TestResult:
    """One test's figures from one redis-benchmark run."""

    test: str
    rps: float
    avg_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class Workload:
    """What redis-benchmark is asked to do: its -t, -n, -c, -P, -d and -r options."""

    tests: tuple[str, ...]
    requests: int
    clients: int
    pipeline: int
    value_size: int
    keyspace: int

    def argv(self, port: int) -> list[str]:
        return [
            "redis-benchmark",
            "-h", "127.0.0.1",
            "-p", str(port),
            "-t", ",".join(test.lower() for test in self.tests),
            "-n", str(self.requests),
            "-c", str(self.clients),
            "-P", str(self.pipeline),
            "-d", str(self.value_size),
            "-r", str(self.keyspace),
            "--csv",
        ]  # fmt: skip


_COLUMNS = {
    "rps": "rps",
    "avg_ms": "avg_latency_ms",
    "p50_ms": "p50_latency_ms",
    "p99_ms": "p99_latency_ms",
    "max_ms": "max_latency_ms",
}


def parse_csv(text: str) -> dict[str, TestResult]:
    """Each test's row, by test name in upper case; lines that are not CSV rows (warnings,
    progress) are skipped. Raises BenchmarkError when the header or a number is missing."""
    lines = [line for line in text.splitlines() if line.startswith('"')]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if not rows or rows[0][:1] != ["test"]:
        raise BenchmarkError(f"no CSV header in redis-benchmark output: {text[:300]!r}")
    header = rows[0]
    missing = [column for column in _COLUMNS.values() if column not in header]
    if missing:
        raise BenchmarkError(f"redis-benchmark CSV lacks columns {missing}")
    results: dict[str, TestResult] = {}
    for row in rows[1:]:
        if len(row) != len(header):
            raise BenchmarkError(f"malformed redis-benchmark CSV row {row!r}")
        fields = dict(zip(header, row, strict=True))
        try:
            values = {name: float(fields[column]) for name, column in _COLUMNS.items()}
        except ValueError:
            raise BenchmarkError(f"non-numeric redis-benchmark CSV row {row!r}") from None
        if not math.isfinite(values["rps"]) or values["rps"] <= 0:
            # redis-benchmark times a run in whole milliseconds: one that ends within the first
            # prints inf (0 requests: nan), which would make every ratio meaningless.
            raise BenchmarkError(
                f"redis-benchmark measured no duration or no requests (rps {row[1]!r}): "
                "the run was too short; give it more requests"
            )
        name = fields["test"].upper()
        results[name] = TestResult(test=name, **values)
    return results


def run(port: int, workload: Workload) -> dict[str, TestResult]:
    """One redis-benchmark run; every requested test must appear in its output."""
    return run_argv(workload.argv(port), workload.tests)


def run_argv(argv: list[str], tests: tuple[str, ...]) -> dict[str, TestResult]:
    """redis-benchmark run with ``argv`` (``--csv`` among them); every one of ``tests`` must
    appear in its output."""
    try:
        returncode, stdout, stderr = children.run(argv, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"redis-benchmark took longer than {RUN_TIMEOUT}s") from None
    output = stdout + stderr
    if returncode != 0:
        raise BenchmarkError(f"redis-benchmark exited with {returncode}: {output[-300:]}")
    results = parse_csv(stdout)
    absent = [test for test in tests if test.upper() not in results]
    if absent:
        raise BenchmarkError(f"redis-benchmark printed no row for {absent}: {output[-300:]}")
    return results


def version() -> str:
    result = subprocess.run(
        ["redis-benchmark", "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    return result.stdout.strip().removeprefix("redis-benchmark ")
