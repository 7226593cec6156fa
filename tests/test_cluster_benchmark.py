"""benchmarks/cluster.py runs end to end (tiny sizes: this checks the harness and the report's
shape, never a speed)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import cluster

from conftest import ROOT


def test_slot_ranges_cover_every_slot_once() -> None:
    for shards in (1, 2, 3, 7):
        ranges = cluster.slot_ranges(shards)
        assert len(ranges) == shards
        assert ranges[0][0] == 0
        assert ranges[-1][1] == cluster.SLOTS - 1
        assert all(last + 1 == first for (_, last), (first, _) in itertools.pairwise(ranges))


def test_the_topology_names_one_primary_per_port() -> None:
    document = cluster.topology([7000, 7001])
    members = [shard["members"] for shard in document["shards"]]
    assert [[m["port"] for m in each] for each in members] == [[7000], [7001]]
    assert [shard["slots"] for shard in document["shards"]] == [[[0, 8191]], [[8192, 16383]]]


def test_a_ratio_over_nothing_is_none() -> None:
    assert cluster.ratio(3.0, 2.0) == 1.5
    assert cluster.ratio(3.0, 0.0) is None


@pytest.mark.skipif(
    shutil.which("redis-benchmark") is None or shutil.which("redis-server") is None,
    reason="needs redis-server and redis-benchmark",
)
def test_the_cluster_figures_come_out(tmp_path: Path) -> None:
    output = tmp_path / "cluster.json"
    requests = 3000
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.cluster",
            *("--requests", str(requests), "--rounds", "1", "--clients", "8"),
            *("--output", str(output)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(output.read_text())
    assert figures["workload"]["requests"] == requests
    for kind in ("kvstore", "redis"):
        for shards in (1, 2):
            for test in ("SET", "GET"):
                run = figures[kind][str(shards)][test]
                assert run["rps"] > 0
                assert run["node_cpu_us_per_request"] >= 0
                # Each node's share (a tiny run may give one node none).
                assert len(run["each_node_requests"]) == shards
                assert len(run["each_node_cpu_us_per_request"]) == shards
                assert len(run["each_node_cores_busy"]) == shards
                assert run["client_cores_busy"] >= 0
                assert sum(run["each_node_requests"]) >= requests
        for test in ("SET", "GET"):
            assert list(figures["model"][kind][test]["rps_by_machines"]) == ["1", "2", "4", "8"]
    assert set(figures["kvstore_vs_redis"]) == {"1", "2"}
    assert figures["kvstore_vs_redis"]["1"]["SET"]["rps"] > 0
    assert "kvstore/Redis 2 shard(s) GET: throughput" in done.stdout


def _has_failover() -> bool:
    """Whether this build fails over (its admin command offers ``failover``)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "kvstore-cluster"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "failover" in done.stdout


@pytest.mark.skipif(shutil.which("etcd") is None, reason="needs etcd (Debian's etcd-server)")
def test_the_failover_benchmark_runs_to_the_kill(tmp_path: Path) -> None:
    pytest.importorskip("etcd3gw", reason="the cluster extra (etcd3gw) is not installed")
    output = tmp_path / "failover.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.failover",
            *("--rounds", "1", "--rate", "50", "--warmup", "0.5", "--give-up", "15"),
            *("--output", str(output)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "round 1: killed the primary" in done.stderr, done.stderr[-2000:]
    if not _has_failover():
        assert done.returncode == 2, done.stderr[-2000:]
        assert "no failover" in done.stderr
        assert "waits for it" in done.stderr
        return
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(output.read_text())["failover"]
    assert len(figures["seconds"]) == 1
    assert figures["min"] == figures["median"] == figures["max"] > 0
    assert figures["target_seconds"] == 5.0
    assert figures["acknowledged_writes"][0] > 0
