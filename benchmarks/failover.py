"""Failover time: a shard of primary + replica on etcd, a writer at a steady rate, SIGKILL the
primary, and the time from the kill to the first write the promoted replica acknowledges;
repeated, reported as min/median/max against the target of 5 s.

    .venv/bin/python -m benchmarks.failover [--rounds 5] [--rate 200] [--etcd-members 1]
        [--output docs/benchmarks/failover.json]

etcd runs on loopback (one member by default: the figure is kvstore's failover, and one member
answers without a consensus round of its own; ``--etcd-members 3`` for a real quorum). Each
round is a fresh cluster (its own ``--cluster-name``, nodes on new ports) created with
``kvstore-cluster create``. The writer sends ``SET`` to the node it believes is the primary,
follows ``MOVED``, and on a refused connection tries the other node at once; a write counts as
acknowledged when it gets ``+OK``. After the round the promoted replica is asked for every
acknowledged write: ``lost`` counts the ones it does not have.

The replica takes over once the dead primary's leader key lapses (its lease is 3 s) and it
wins the key (docs/cluster.md, "Failover"). On a build without failover the round stops
there, after ``--give-up`` seconds, saying so.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import children, machine, wire
from benchmarks.servers import ROOT, Server, free_port, kvstore_command

ADMIN = ROOT / "kvstore-cluster"
TARGET_SECONDS = 5.0
START_TIMEOUT = 60.0
#: How long a replica may take to follow its primary by itself before REPLICAOF is sent.
FOLLOW_WAIT = 5.0
#: What the report says when the replica never took over.
NO_FAILOVER = (
    "no failover: the replica was not promoted within {seconds:g} s of the primary's death. "
    "This build has no failover yet (it is being built on branch 'failover'): the benchmark "
    "waits for it."
)


class NoFailoverError(RuntimeError):
    """The replica never acknowledged a write after the primary was killed."""


# -- etcd ---------------------------------------------------------------------------------------


@dataclass
class Etcd:
    """etcd members on loopback, data in ``directory``."""

    directory: Path
    size: int
    client_ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.client_ports]

    def start(self) -> None:
        etcd = shutil.which("etcd")
        if etcd is None:
            raise RuntimeError("etcd is not installed (apt-get install etcd-server)")
        self.client_ports = [free_port() for _ in range(self.size)]
        peers = [free_port() for _ in range(self.size)]
        initial = ",".join(f"m{i}=http://127.0.0.1:{port}" for i, port in enumerate(peers))
        for index, (client, peer) in enumerate(zip(self.client_ports, peers, strict=True)):
            log = (self.directory / f"etcd-m{index}.log").open("wb")
            with children.stop_signals_held():
                self.procs.append(
                    children.popen(
                        [
                            etcd,
                            *(
                                "--name",
                                f"m{index}",
                                "--data-dir",
                                str(self.directory / f"m{index}"),
                            ),
                            *("--listen-client-urls", f"http://127.0.0.1:{client}"),
                            *("--advertise-client-urls", f"http://127.0.0.1:{client}"),
                            *("--listen-peer-urls", f"http://127.0.0.1:{peer}"),
                            *("--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}"),
                            *("--initial-cluster", initial, "--initial-cluster-state", "new"),
                            *("--heartbeat-interval", "50", "--election-timeout", "500"),
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not all(self._healthy(endpoint) for endpoint in self.endpoints):
            if any(proc.poll() is not None for proc in self.procs):
                raise RuntimeError(f"etcd exited while starting; see {self.directory}")
            if time.monotonic() > deadline:
                raise RuntimeError("etcd did not become healthy")
            time.sleep(0.05)

    @staticmethod
    def _healthy(endpoint: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://{endpoint}/health", timeout=1) as reply:
                return bool(json.load(reply).get("health") == "true")
        except OSError:
            return False

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextmanager
def etcd_running(size: int) -> Iterator[Etcd]:
    directory = Path(tempfile.mkdtemp(prefix="kvstore-bench-etcd-"))
    etcd = Etcd(directory, size)
    try:
        etcd.start()
        yield etcd
    finally:
        etcd.stop()
        shutil.rmtree(directory, ignore_errors=True)


# -- one shard on etcd --------------------------------------------------------------------------


def node_id(index: int) -> str:
    return f"{index:x}" * 40


def shard_document(primary_port: int, replica_port: int) -> dict[str, Any]:
    members = [
        {"id": node_id(1), "host": "127.0.0.1", "port": primary_port, "role": "primary"},
        {"id": node_id(2), "host": "127.0.0.1", "port": replica_port, "role": "replica"},
    ]
    shard = {"id": "a", "epoch": 1, "slots": [[0, 16383]], "members": members}
    return {"version": 1, "shards": [shard]}


def create(etcd: Etcd, name: str, document: dict[str, Any], directory: Path) -> None:
    path = directory / "topology.json"
    path.write_text(json.dumps(document))
    argv = [sys.executable, str(ADMIN), "--etcd", ",".join(etcd.endpoints), "--name", name]
    code, out, err = children.run([*argv, "create", str(path)], timeout=START_TIMEOUT)
    if code != 0:
        raise RuntimeError(f"kvstore-cluster create failed: {out}{err}")


def start_node(etcd: Etcd, name: str, index: int, port: int) -> Server:
    directory = Path(tempfile.mkdtemp(prefix="kvstore-bench-failover-"))
    argv = [
        *kvstore_command(), "--port", str(port), "--bind", "127.0.0.1", "--no-persist",
        "--cluster-enabled", "--cluster-etcd-endpoints", " ".join(etcd.endpoints),
        "--cluster-name", name, "--cluster-node-id", node_id(index),
    ]  # fmt: skip
    server = Server("kvstore", argv, directory, port)
    server.start()
    return server


def sync_members(etcd: Etcd, name: str, shard: str) -> list[str] | None:
    """The members of the shard's sync key (docs/cluster.md, "Failover"), read through etcd's
    JSON gateway; None where there is no such key (a build without failover)."""
    key = base64.b64encode(f"/kvstore/{name}/shards/{shard}/sync".encode()).decode()
    request = urllib.request.Request(
        f"http://{etcd.endpoints[0]}/v3/kv/range",
        data=json.dumps({"key": key}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        found = json.load(reply).get("kvs", [])
    if not found:
        return None
    members: list[str] = json.loads(base64.b64decode(found[0]["value"]))["members"]
    return members


def _reply(port: int, *args: str | int, timeout: float = 1.0) -> wire.Reply | Exception:
    """One command's reply, or the error (a refusal, a connection failure) in its place."""
    try:
        with wire.connect(port, timeout=timeout) as sock:
            return wire.call(sock, *args)
    except (OSError, wire.ServerReplyError, ConnectionError) as exc:
        return exc


def _wait(condition: Any, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def _following(replica: Server, primary: Server) -> bool:
    info = _reply(replica.port, "INFO", "replication")
    return (
        isinstance(info, bytes)
        and "role:slave" in info.decode()
        and f"master_port:{primary.port}" in info.decode()
        and "master_link_status:up" in info.decode()
    )


def follow(replica: Server, primary: Server) -> bool:
    """Until the replica follows the primary; True if it did so by itself (a build with
    failover: cluster replicas follow their shard's leader), False if REPLICAOF was needed."""
    try:
        _wait(lambda: _following(replica, primary), "the replica to follow", FOLLOW_WAIT)
        return True
    except RuntimeError:
        pass
    reply = _reply(replica.port, "REPLICAOF", "127.0.0.1", primary.port)
    if isinstance(reply, Exception):
        raise RuntimeError(f"REPLICAOF refused: {reply}")
    _wait(lambda: _following(replica, primary), "the replica to follow after REPLICAOF")
    return False


# -- the writer ---------------------------------------------------------------------------------


@dataclass
class Writer:
    """SETs at ``rate`` a second to the shard's primary, wherever it is."""

    ports: list[int]
    rate: float
    #: (monotonic time, port, n) of every acknowledged ``SET fo:<n> <n>``.
    acknowledged: list[tuple[float, int, int]] = field(default_factory=list)
    target: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.target = self.ports[0]
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        period = 1.0 / self.rate
        sent = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._write(sent)
            sent += 1
            next_at += period
            self._stop.wait(max(next_at - time.monotonic(), 0.0))

    def _write(self, n: int) -> None:
        tried = [self.target, *(port for port in self.ports if port != self.target)]
        for port in tried:
            reply = _reply(port, "SET", f"fo:{n}", n, timeout=0.5)
            if reply == b"OK":
                self.acknowledged.append((time.monotonic(), port, n))
                self.target = port
                return
            if isinstance(reply, wire.ServerReplyError) and str(reply).startswith("MOVED "):
                self.target = int(str(reply).rsplit(":", 1)[1])
                return
            if not isinstance(reply, OSError | ConnectionError):
                return  # refused (no leader yet): the next tick asks again
        # Every node refused the connection: the next tick tries them again.

    def first_ack_after(self, moment: float, port: int) -> float | None:
        return next((t for t, p, _n in self.acknowledged if t >= moment and p == port), None)


# -- a round ------------------------------------------------------------------------------------


@dataclass
class Round:
    seconds: float | None
    acknowledged: int
    lost: int | None
    replica_followed_by_itself: bool


def one_round(etcd: Etcd, number: int, rate: float, warmup: float, give_up: float) -> Round:
    name = f"failover-{os.getpid()}-{number}"
    with ExitStack() as stack:
        directory = Path(tempfile.mkdtemp(prefix="kvstore-bench-failover-doc-"))
        stack.callback(shutil.rmtree, directory, True)
        ports = [free_port(), free_port()]
        create(etcd, name, shard_document(*ports), directory)
        primary = start_node(etcd, name, 1, ports[0])
        stack.callback(shutil.rmtree, primary.directory, True)
        stack.callback(primary.stop)
        replica = start_node(etcd, name, 2, ports[1])
        stack.callback(shutil.rmtree, replica.directory, True)
        stack.callback(replica.stop)
        _wait(lambda: _reply(primary.port, "SET", "ready", 1) == b"OK", "the primary to lead")
        by_itself = follow(replica, primary)
        writer = Writer(ports, rate)
        writer.start()
        stack.callback(writer.stop)
        _wait(lambda: len(writer.acknowledged) >= rate * warmup, "the writer's warm-up")
        if sync_members(etcd, name, "a") is not None:
            # Only a replica named in the sync key may take over: it enters once it keeps up.
            _wait(
                lambda: node_id(2) in (sync_members(etcd, name, "a") or []),
                "the replica to enter the shard's sync key",
            )
        killed_at = time.monotonic()
        assert primary.proc is not None
        primary.proc.send_signal(signal.SIGKILL)
        primary.proc.wait()
        print(f"round {number}: killed the primary (pid {primary.pid})", file=sys.stderr)
        try:
            _wait(
                lambda: writer.first_ack_after(killed_at, replica.port) is not None,
                "the promoted replica's first acknowledgement",
                give_up,
            )
        except RuntimeError:
            raise NoFailoverError(NO_FAILOVER.format(seconds=give_up)) from None
        acked_at = writer.first_ack_after(killed_at, replica.port)
        assert acked_at is not None
        writer.stop()
        return Round(
            acked_at - killed_at,
            len(writer.acknowledged),
            lost_writes(replica.port, writer.acknowledged),
            by_itself,
        )
    raise AssertionError("unreachable")


def lost_writes(port: int, acknowledged: list[tuple[float, int, int]]) -> int:
    """Acknowledged writes the node does not hold."""
    lost = 0
    with wire.connect(port, timeout=30.0) as sock:
        for _t, _port, n in acknowledged:
            if wire.call(sock, "GET", f"fo:{n}") != str(n).encode():
                lost += 1
    return lost


def summary(rounds: list[Round]) -> dict[str, Any]:
    times = [r.seconds for r in rounds if r.seconds is not None]
    return {
        "seconds": [round(t, 3) for t in times],
        "min": round(min(times), 3),
        "median": round(statistics.median(times), 3),
        "max": round(max(times), 3),
        "target_seconds": TARGET_SECONDS,
        "passed": max(times) <= TARGET_SECONDS,
        "acknowledged_writes": [r.acknowledged for r in rounds],
        "lost_acknowledged_writes": [r.lost for r in rounds],
        "replica_followed_by_itself": all(r.replica_followed_by_itself for r in rounds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="failovers to time")
    parser.add_argument("--rate", type=float, default=200.0, help="writes a second")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of writes first")
    parser.add_argument("--give-up", type=float, default=30.0, help="seconds to wait for one")
    parser.add_argument("--etcd-members", type=int, default=1, choices=(1, 3))
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {
        "machine": machine.machine(),
        "load_average_before": machine.load_average(),
        "etcd_members": args.etcd_members,
        "rate": args.rate,
        "rounds": args.rounds,
    }
    rounds: list[Round] = []
    with etcd_running(args.etcd_members) as etcd:
        for number in range(1, args.rounds + 1):
            try:
                rounds.append(one_round(etcd, number, args.rate, args.warmup, args.give_up))
            except NoFailoverError as exc:
                print(exc, file=sys.stderr)
                return 2
            print(f"round {number}: {rounds[-1].seconds:.3f} s", file=sys.stderr)
    figures["failover"] = summary(rounds)
    figures["load_average_after"] = machine.load_average()
    text = json.dumps(figures, indent=2)
    print(text)
    result = figures["failover"]
    print(
        f"failover: min {result['min']:.2f} s, median {result['median']:.2f} s, "
        f"max {result['max']:.2f} s (target {TARGET_SECONDS:g} s: "
        f"{'met' if result['passed'] else 'missed'})"
    )
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
