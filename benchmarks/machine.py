"""What the figures were measured on: the machine, its load, and every component's version."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks import redis_benchmark
from benchmarks.servers import kvstore_command


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def memory_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_bytes": memory_total(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _output(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return ""
    return result.stdout.strip()


def _package(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    redis_line = _output(["redis-server", "--version"])  # "Redis server v=7.0.15 sha=..."
    redis = next((part[2:] for part in redis_line.split() if part.startswith("v=")), redis_line)
    kvstore = _output([*kvstore_command(), "--version"]).removeprefix("kvstore-server ")
    return {
        "python": platform.python_version(),
        "kvstore": kvstore or None,
        "redis-server": redis or None,
        "redis-benchmark": redis_benchmark.version() or None,
        "uvloop": _package("uvloop"),
        "hiredis": _package("hiredis"),
    }
