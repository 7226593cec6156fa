"""Cluster figures: throughput of 1 shard against 2 (primaries only), and each node's CPU per
request, kvstore beside redis-server in cluster mode, measured in one run.

    .venv/bin/python -m benchmarks.cluster [--requests 500000] [--clients 50] [--pipeline 16]
        [--rounds 3] [--output docs/benchmarks/cluster.json]

Both servers run in cluster mode on loopback with persistence off. kvstore's nodes share a
topology file; Redis's get their slots with ``CLUSTER ADDSLOTSRANGE`` and meet over the
cluster bus. One shard is driven by plain redis-benchmark (``--cluster`` refuses a single-node
cluster: the lone node serves every slot, so no request is redirected), two by
``redis-benchmark --cluster``, which spreads its connections and keys over the primaries; it
rounds a run's duration up to a quarter second, so those runs make CLUSTER_REQUESTS_FACTOR
times the requests.

A node's CPU per request is its process's user+sys CPU (/proc/PID/stat) over the run divided
by the GETs or SETs it served (``INFO commandstats``). On a machine with fewer cores than
nodes + client, 2 shards cannot serve twice the requests: the figure that carries over to N
machines is the per-node cost, which should stay flat as shards are added. With it flat, N
machines serve about N times one node's throughput as long as the clients keep up (each
shard's CPU is its own; no request crosses shards).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import machine, redis_benchmark, wire
from benchmarks.servers import (
    PortTakenError,
    Server,
    children_cpu_seconds,
    cpu_seconds,
    free_port,
    kvstore_command,
)

SLOTS = 16384
KINDS = ("kvstore", "redis")
SHARD_COUNTS = (1, 2)
TESTS = ("SET", "GET")
START_ATTEMPTS = 5
#: How long Redis's nodes may take to agree on the cluster over their bus.
CONVERGE_TIMEOUT = 60.0
#: redis-benchmark --cluster runs a thread per node and notices the end on its 250 ms timer, so
#: it rounds each run's duration up to the next quarter second: runs against several shards
#: take this many times the requests, to keep that rounding small.
CLUSTER_REQUESTS_FACTOR = 4
#: Machine counts the scaling model is printed for.
MODEL_MACHINES = (1, 2, 4, 8)


def slot_ranges(shards: int) -> list[tuple[int, int]]:
    """The 16384 slots cut into ``shards`` contiguous ranges, as even as they go."""
    bounds = [SLOTS * index // shards for index in range(shards + 1)]
    return [(bounds[index], bounds[index + 1] - 1) for index in range(shards)]


def node_id(index: int) -> str:
    return f"{index + 1:040x}"


def topology(ports: Sequence[int]) -> dict[str, Any]:
    """A kvstore topology document: one primary per port, the slots shared in order."""
    shards = []
    for index, (port, (first, last)) in enumerate(zip(ports, slot_ranges(len(ports)), strict=True)):
        member = {"id": node_id(index), "host": "127.0.0.1", "port": port, "role": "primary"}
        shards.append(
            {"id": f"s{index}", "epoch": index + 1, "slots": [[first, last]], "members": [member]}
        )
    return {"version": 1, "shards": shards}


def _argv(kind: str, port: int, directory: Path, index: int, layout: Path) -> list[str]:
    if kind == "redis":
        return [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(directory), "--daemonize", "no", "--save", "", "--appendonly", "no",
            "--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
            # The bus on a port of its own: port + 10000 may be out of range or taken.
            "--cluster-port", str(free_port()),
        ]  # fmt: skip
    return [
        *kvstore_command(), "--port", str(port), "--bind", "127.0.0.1", "--no-persist",
        "--cluster-enabled", "--cluster-topology-file", str(layout),
        "--cluster-node-id", node_id(index),
    ]  # fmt: skip


def _start(kind: str, ports: list[int], index: int, layout: Path) -> Server:
    """Node ``index`` of a cluster; a new port (written into ``ports``) if its was taken."""
    for attempt in range(1, START_ATTEMPTS + 1):
        directory = Path(tempfile.mkdtemp(prefix=f"kvstore-bench-cluster-{kind}-"))
        if kind == "kvstore":
            layout.write_text(json.dumps(topology(ports)))
        server = Server(kind, _argv(kind, ports[index], directory, index, layout), directory, 0)
        server.port = ports[index]
        try:
            server.start()
        except PortTakenError:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)
            if attempt == START_ATTEMPTS:
                raise
            ports[index] = free_port()
            continue
        return server
    raise AssertionError("unreachable")


def _bus_port(server: Server) -> int:
    return int(server.argv[server.argv.index("--cluster-port") + 1])


def _cluster_info(port: int) -> dict[str, str]:
    with wire.connect(port) as sock:
        reply = wire.call(sock, "CLUSTER", "INFO")
    assert isinstance(reply, bytes)
    return dict(line.split(":", 1) for line in reply.decode().splitlines() if ":" in line)


def _converged(nodes: list[Server]) -> bool:
    """Every node sees every node and every slot served."""
    for node in nodes:
        info = _cluster_info(node.port)
        if info.get("cluster_state") != "ok" or int(info["cluster_known_nodes"]) != len(nodes):
            return False
    return True


def form_redis_cluster(nodes: list[Server]) -> None:
    """Give each Redis node its slot range, introduce them to the first, and wait until they
    agree (the cluster bus gossips the slots around)."""
    for node, (first, last) in zip(nodes, slot_ranges(len(nodes)), strict=True):
        with wire.connect(node.port) as sock:
            wire.call(sock, "CLUSTER", "ADDSLOTSRANGE", first, last)
    for node in nodes[1:]:
        with wire.connect(node.port) as sock:
            wire.call(sock, "CLUSTER", "MEET", "127.0.0.1", nodes[0].port, _bus_port(nodes[0]))
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while not _converged(nodes):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Redis cluster did not converge in {CONVERGE_TIMEOUT}s")
        time.sleep(0.05)


@contextmanager
def cluster(kind: str, shards: int) -> Iterator[list[Server]]:
    """``shards`` primaries of ``kind`` sharing the slots, ready for clients; stopped after."""
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"kvstore-bench-layout-{kind}-"))
        stack.callback(shutil.rmtree, workdir, True)
        layout = workdir / "topology.json"
        ports = [free_port() for _ in range(shards)]
        nodes: list[Server] = []
        for index in range(shards):
            node = _start(kind, ports, index, layout)
            stack.callback(shutil.rmtree, node.directory, True)
            stack.callback(node.stop)
            nodes.append(node)
        if kind == "redis":
            form_redis_cluster(nodes)
        yield nodes


def served(port: int, test: str) -> int:
    """How many times the node ran ``test`` (INFO commandstats' calls)."""
    with wire.connect(port) as sock:
        reply = wire.call(sock, "INFO", "commandstats")
    assert isinstance(reply, bytes)
    for line in reply.decode().splitlines():
        if line.startswith(f"cmdstat_{test.lower()}:"):
            fields = dict(part.split("=") for part in line.split(":", 1)[1].split(","))
            return int(fields["calls"])
    return 0


@dataclass(frozen=True)
class Run:
    """One redis-benchmark run of one test against one cluster."""

    rps: float
    #: Each node's CPU seconds over the run, in node order.
    node_cpu: list[float]
    #: Each node's share of the requests.
    node_requests: list[int]
    #: redis-benchmark's own CPU seconds.
    client_cpu: float

    @property
    def seconds(self) -> float:
        """The run's length, from its throughput."""
        return sum(self.node_requests) / self.rps

    @property
    def node_cpu_us_per_request(self) -> float:
        """The nodes' CPU over the requests they served: what a request costs the node that
        serves it, whichever it is (a node's own share can be uneven in a short run)."""
        return 1e6 * sum(self.node_cpu) / sum(self.node_requests)


def measure(nodes: list[Server], test: str, workload: redis_benchmark.Workload) -> Run:
    argv = workload.argv(nodes[0].port)
    if len(nodes) > 1:
        argv.insert(1, "--cluster")
    before = [(cpu_seconds(node.pid), served(node.port, test)) for node in nodes]
    client_before = children_cpu_seconds()
    result = redis_benchmark.run_argv(argv, workload.tests)[test]
    client_cpu = children_cpu_seconds() - client_before
    after = [(cpu_seconds(node.pid), served(node.port, test)) for node in nodes]
    pairs = list(zip(before, after, strict=True))
    requests = [calls - calls0 for (_cpu0, calls0), (_cpu, calls) in pairs]
    if sum(requests) <= 0:
        raise RuntimeError(f"the nodes served no {test}")
    cpu = [cpu1 - cpu0 for (cpu0, _calls0), (cpu1, _calls) in pairs]
    return Run(result.rps, cpu, requests, client_cpu)


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3)


def summarise(runs: list[Run]) -> dict[str, Any]:
    """Medians over rounds: throughput, a node's CPU per request it served (all nodes' CPU over
    all their requests), each node's own, and redis-benchmark's CPU per request."""
    nodes = range(len(runs[0].node_cpu))
    return {
        "rps": _median([run.rps for run in runs]),
        "node_cpu_us_per_request": _median([run.node_cpu_us_per_request for run in runs]),
        # A node's own figure: None where a run was too short for it to serve any.
        "each_node_cpu_us_per_request": [
            None
            if any(run.node_requests[index] == 0 for run in runs)
            else _median([1e6 * run.node_cpu[index] / run.node_requests[index] for run in runs])
            for index in nodes
        ],
        "each_node_requests": runs[-1].node_requests,
        "client_cpu_us_per_request": _median(
            [1e6 * run.client_cpu / sum(run.node_requests) for run in runs]
        ),
        # Cores kept busy over the run (1.0: one core all along): a client near 1.0 is the
        # bottleneck, whatever the nodes could do.
        "each_node_cores_busy": [
            _median([run.node_cpu[index] / run.seconds for run in runs]) for index in nodes
        ],
        "client_cores_busy": _median([run.client_cpu / run.seconds for run in runs]),
        "rounds": len(runs),
    }


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` to 3 places; None when the denominator is 0 (a tiny run can
    take less CPU than the clock's 10 ms tick)."""
    return round(numerator / denominator, 3) if denominator > 0 else None


def model(figures: dict[str, Any]) -> dict[str, Any]:
    """What the figures imply for N machines, one shard each: throughput N x one node's while
    the per-node cost stays flat from 1 shard to 2 (``per_node_cost_2_vs_1_shard`` near 1.0)
    and the clients keep up."""
    out: dict[str, Any] = {}
    for test in TESTS:
        one, two = figures["1"][test], figures["2"][test]
        cost = one["node_cpu_us_per_request"]
        out[test] = {
            "per_node_cost_2_vs_1_shard": ratio(two["node_cpu_us_per_request"], cost),
            "rps_by_machines": {str(n): round(n * one["rps"]) for n in MODEL_MACHINES},
            "one_core_node_capacity_rps": round(1e6 / cost) if cost > 0 else None,
        }
    return out


def ratios(kvstore: dict[str, Any], redis: dict[str, Any]) -> dict[str, Any]:
    """kvstore's figures over Redis's, per shard count and test."""
    out: dict[str, Any] = {}
    for shards in kvstore:
        out[shards] = {
            test: {
                "rps": ratio(kvstore[shards][test]["rps"], redis[shards][test]["rps"]),
                "node_cpu_per_request": ratio(
                    kvstore[shards][test]["node_cpu_us_per_request"],
                    redis[shards][test]["node_cpu_us_per_request"],
                ),
            }
            for test in TESTS
        }
    return out


def bench(workload: redis_benchmark.Workload, rounds: int) -> dict[str, Any]:
    """Every (kind, shard count) pair's figures; the kinds take turns round by round, so both
    see the same machine load."""
    runs: dict[tuple[str, int, str], list[Run]] = {}
    for shards in SHARD_COUNTS:
        for _round in range(rounds):
            for kind in KINDS:
                with cluster(kind, shards) as nodes:
                    for test in TESTS:
                        one = redis_benchmark.Workload(
                            (test,),
                            workload.requests * (CLUSTER_REQUESTS_FACTOR if shards > 1 else 1),
                            workload.clients,
                            workload.pipeline,
                            workload.value_size,
                            workload.keyspace,
                        )
                        runs.setdefault((kind, shards, test), []).append(measure(nodes, test, one))
    return {
        kind: {
            str(shards): {test: summarise(runs[(kind, shards, test)]) for test in TESTS}
            for shards in SHARD_COUNTS
        }
        for kind in KINDS
    }


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def report(figures: dict[str, Any]) -> str:
    """The figures as a few lines of text."""
    lines = []
    for kind in KINDS:
        for test in TESTS:
            one, two = figures[kind]["1"][test], figures[kind]["2"][test]
            lines.append(
                f"{kind:7} {test}: 1 shard {one['rps']:>10,.0f} rps, "
                f"{one['node_cpu_us_per_request']:.2f} us CPU/request/node; "
                f"2 shards {two['rps']:>10,.0f} rps, "
                f"{two['node_cpu_us_per_request']:.2f} us CPU/request/node"
            )
    for shards, tests in figures["kvstore_vs_redis"].items():
        for test, versus in tests.items():
            lines.append(
                f"kvstore/Redis {shards} shard(s) {test}: throughput {_times(versus['rps'])}, "
                f"CPU per request per node {_times(versus['node_cpu_per_request'])}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500_000, help="requests per test (-n)")
    parser.add_argument("--clients", type=int, default=50, help="connections (-c)")
    parser.add_argument("--pipeline", type=int, default=16, help="pipeline depth (-P)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per kind and shard count")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    workload = redis_benchmark.Workload(
        TESTS, args.requests, args.clients, args.pipeline, 16, 100_000
    )
    figures: dict[str, Any] = {
        "machine": machine.machine(),
        "versions": machine.versions(),
        "load_average_before": machine.load_average(),
        "workload": {
            "requests": args.requests,
            "clients": args.clients,
            "pipeline": args.pipeline,
            "value_size": workload.value_size,
            "keyspace": workload.keyspace,
        },
    }
    figures.update(bench(workload, args.rounds))
    figures["kvstore_vs_redis"] = ratios(figures["kvstore"], figures["redis"])
    figures["model"] = {kind: model(figures[kind]) for kind in KINDS}
    figures["load_average_after"] = machine.load_average()
    text = json.dumps(figures, indent=2)
    print(text)
    print(report(figures))
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
