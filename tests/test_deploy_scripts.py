"""The shell steps inside the cluster's deployment files, run for real: the topology Job (and
compose's cluster-create) against three etcd members, the shard pods' wait for the topology,
and the shard container's start (pod 0 a primary, the others its replicas)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ServerProcess, free_port
from etcd_support import EtcdCluster, etcd_cluster
from redis_compare import RawConnection
from test_deploy_files import COMPOSE_CLUSTER, cluster_manifests, compose_cluster, pod_spec

pytest.importorskip("etcd3gw", reason="the cluster extra (etcd3gw) is not installed")

#: Where the virtual environment's kvstore-server and kvstore-cluster are.
BIN = str(Path(sys.executable).parent)
MOUNTED = "/etc/kvstore/topology.json"


def job_script() -> str:
    (container,) = pod_spec(cluster_manifests()[("Job", "kvstore-cluster-create")])["containers"]
    script: str = container["command"][-1]
    return script


def compose_script() -> str:
    # Compose writes a literal $ as $$.
    script: str = compose_cluster()["cluster-create"]["entrypoint"][-1]
    return script.replace("$$", "$")


def run_script(script: str, topology: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script.replace(MOUNTED, str(topology))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env},
    )


def status(etcd: EtcdCluster) -> str:
    done = subprocess.run(
        [f"{BIN}/kvstore-cluster", "--etcd", ",".join(etcd.endpoints), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def configmap_topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.json"
    path.write_text(cluster_manifests()[("ConfigMap", "kvstore-topology")]["data"]["topology.json"])
    return path


@pytest.mark.parametrize("source", ["kubernetes", "compose"])
def test_the_create_step_stores_the_topology_once_and_then_keeps_it(
    source: str, tmp_path: Path
) -> None:
    if source == "kubernetes":
        script, topology = job_script(), configmap_topology(tmp_path)
    else:
        script, topology = compose_script(), COMPOSE_CLUSTER.parent / "topology.json"
    with etcd_cluster(tmp_path / "etcd") as etcd:
        endpoints = ",".join(etcd.endpoints)
        first = run_script(script, topology, ETCD=endpoints)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "created cluster 'kvstore'" in first.stdout
        shown = status(etcd)
        assert "shard a: slots 0-8191" in shown
        assert "shard b: slots 8192-16383" in shown
        again = run_script(script, topology, ETCD=endpoints)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "keeping the topology etcd has" in again.stdout
        assert status(etcd).splitlines()[1:] == shown.splitlines()[1:]


def test_a_bad_topology_fails_the_job(tmp_path: Path) -> None:
    bad = tmp_path / "topology.json"
    bad.write_text('{"version": 1, "shards": [{"id": "a"}]}')
    with etcd_cluster(tmp_path / "etcd") as etcd:
        done = run_script(job_script(), bad, ETCD=",".join(etcd.endpoints))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "topology" in done.stderr


def test_the_shard_pods_wait_until_the_topology_is_stored(tmp_path: Path) -> None:
    (wait,) = pod_spec(cluster_manifests()[("StatefulSet", "kvstore-a")])["initContainers"]
    with etcd_cluster(tmp_path / "etcd") as etcd:
        endpoints = ",".join(etcd.endpoints)
        waiting = subprocess.Popen(
            ["sh", "-c", wait["command"][-1]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ETCD": endpoints},
        )
        try:
            # Its first look finds no topology (one line on stderr): only then is it stored.
            assert waiting.stderr is not None
            first = waiting.stderr.readline()
            assert "has no topology" in first, first
            created = run_script(job_script(), configmap_topology(tmp_path), ETCD=endpoints)
            assert created.returncode == 0, created.stdout + created.stderr
            out, err = waiting.communicate(timeout=60)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
        assert waiting.returncode == 0, out + err
        assert "slots served: 16384 of 16384" in out


def shard_container() -> dict[str, Any]:
    container: dict[str, Any] = pod_spec(cluster_manifests()[("StatefulSet", "kvstore-a")])[
        "containers"
    ][0]
    return container


@pytest.mark.parametrize(("pod", "role"), [("kvstore-a-0", "master"), ("kvstore-a-1", "slave")])
def test_pod_0_starts_as_the_primary_and_the_others_follow_it(pod: str, role: str) -> None:
    """The shard container's own start command, with the server it execs (cluster mode and
    etcd left out: the role is the script's part)."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "POD_NAME": pod,
        "KVSTORE_PORT": str(port),
        "KVSTORE_NO_PERSIST": "yes",
    }
    proc = subprocess.Popen(
        ["sh", "-c", shard_container()["command"][-1]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    server = ServerProcess(proc, port)
    server.wait_ready()
    try:
        conn = RawConnection("127.0.0.1", server.port)
        try:
            info = conn.call(b"INFO", b"replication").decode()
        finally:
            conn.close()
        assert f"role:{role}" in info
        if role == "slave":
            assert "master_host:kvstore-a-0.kvstore-a" in info
            assert "master_port:5000" in info
    finally:
        server.stop()
