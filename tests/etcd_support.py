"""A real etcd cluster for tests (no tests of its own): three members of Debian's
``etcd-server`` on free loopback ports, data in a temporary directory, stopped by PID."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import START_TIMEOUT, free_port, stop_process, wait_for

ETCD = shutil.which("etcd")


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=1) as reply:
                return bool(json.load(reply).get("health") == "true")
        except OSError:
            return False


@dataclass
class EtcdCluster:
    members: list[EtcdMember]
    workdir: Path
    logs: list[Path] = field(default_factory=list)

    @property
    def endpoints(self) -> list[str]:
        return [member.endpoint for member in self.members]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for member in self.members:
            log = self.workdir / f"{member.name}.log"
            self.logs.append(log)
            with open(log, "wb") as out:
                member.proc = subprocess.Popen(
                    [
                        str(ETCD),
                        *("--name", member.name),
                        *("--data-dir", str(self.workdir / member.name)),
                        *("--listen-client-urls", f"http://{member.endpoint}"),
                        *("--advertise-client-urls", f"http://{member.endpoint}"),
                        *("--listen-peer-urls", f"http://127.0.0.1:{member.peer_port}"),
                        *("--initial-advertise-peer-urls", f"http://127.0.0.1:{member.peer_port}"),
                        *("--initial-cluster", initial),
                        *("--initial-cluster-state", "new"),
                        *("--initial-cluster-token", self.workdir.name),
                        # Quick elections: loopback answers in microseconds.
                        *("--heartbeat-interval", "50", "--election-timeout", "500"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        wait_for(
            lambda: all(m.healthy() for m in self.members) or self._ended(),
            START_TIMEOUT * 2,
            "etcd members healthy",
        )
        if self._ended():
            raise AssertionError("etcd did not start:\n" + self.log_text())

    def _ended(self) -> bool:
        return any(m.proc is not None and m.proc.poll() is not None for m in self.members)

    def log_text(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-2000:] for log in self.logs)

    def stop_member(self, member: EtcdMember) -> None:
        if member.proc is not None:
            stop_process(member.proc)

    def stop(self) -> None:
        for member in self.members:
            self.stop_member(member)


@contextlib.contextmanager
def etcd_cluster(workdir: Path, size: int = 3) -> Iterator[EtcdCluster]:
    """``size`` etcd members, healthy, on loopback; skips where etcd is not installed."""
    if ETCD is None:
        pytest.skip("etcd is not installed (scripts/test installs Debian's etcd-server)")
    members = [EtcdMember(f"m{index}", free_port(), free_port()) for index in range(size)]
    cluster = EtcdCluster(members, workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def node_args(etcd: EtcdCluster, name: str, node_id: str) -> tuple[str, ...]:
    """``./server`` arguments for a node of cluster ``name`` on ``etcd`` (no persistence)."""
    return (
        "--no-persist",
        "--cluster-enabled",
        "--cluster-etcd-endpoints",
        " ".join(etcd.endpoints),
        "--cluster-name",
        name,
        "--cluster-node-id",
        node_id,
    )
