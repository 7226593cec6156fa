"""Helpers for cluster tests (no tests of its own): topology documents for nodes on loopback,
and ``./server`` processes started in cluster mode from one."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import ServerProcess, free_port, start_server
from kvstore.slots import key_slot
from test_client_support import RedisServer, start_redis_server


def node_id(number: int) -> str:
    """A stable, recognisable node ID: the number repeated to 40 hex digits."""
    return f"{number:x}" * (40 // len(f"{number:x}"))


@dataclass
class Node:
    id: str
    port: int
    shard: str
    role: str = "primary"


def document(
    nodes: Sequence[Node],
    slots: dict[str, list[list[int]]],
    *,
    migrating: dict[str, dict[str, str]] | None = None,
    importing: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A topology document: ``slots`` and the moves by shard ID, members from ``nodes``."""
    shards = []
    for epoch, shard in enumerate(slots, start=1):
        shards.append(
            {
                "id": shard,
                "epoch": epoch,
                "slots": slots[shard],
                "members": [
                    {"id": n.id, "host": "127.0.0.1", "port": n.port, "role": n.role}
                    for n in nodes
                    if n.shard == shard
                ],
                "migrating": (migrating or {}).get(shard, {}),
                "importing": (importing or {}).get(shard, {}),
            }
        )
    return {"version": 1, "shards": shards}


def start_nodes(
    factory: Callable[..., ServerProcess],
    tmp_path: Path,
    roles: Sequence[tuple[str, str]],
    slots: dict[str, list[list[int]]],
    *extra: str,
    dirs: Sequence[Path | None] = (),
    **moves: dict[str, dict[str, str]],
) -> list[ServerProcess]:
    """One server per ``(shard, role)`` in ``roles``, all reading one topology file; each
    persisting nothing unless ``dirs`` gives it a data directory."""
    nodes = [
        Node(node_id(index + 1), free_port(), shard, role)
        for index, (shard, role) in enumerate(roles)
    ]
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document(nodes, slots, **moves)))
    storage = [["--dir", str(d)] if d else ["--no-persist"] for d in dirs]
    storage += [["--no-persist"]] * (len(nodes) - len(storage))
    return [
        factory(
            *storage[index],
            "--cluster-enabled",
            "--cluster-topology-file",
            str(path),
            "--cluster-node-id",
            node.id,
            *extra,
            port=node.port,
        )
        for index, node in enumerate(nodes)
    ]


def key_in(first: int, last: int, prefix: str = "key") -> bytes:
    """A key whose slot is in ``first..last``."""
    index = 0
    while True:
        key = f"{prefix}:{index}".encode()
        if first <= key_slot(key) <= last:
            return key
        index += 1


def start_redis_cluster_node(workdir: Path) -> RedisServer:
    """A real redis-server in cluster mode (its bus on a free port, as a high client port
    would put port + 10000 out of range), alone and not yet serving any slot."""
    return start_redis_server(
        workdir,
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        str(free_port()),
        "--cluster-config-file",
        str(workdir / "nodes.conf"),
    )


#: Two shards, each half of the slots.
HALVES = {"a": [[0, 8191]], "b": [[8192, 16383]]}


@contextlib.contextmanager
def two_nodes(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two primaries sharing the slots half and half (``HALVES``), stopped at the end."""
    started: list[ServerProcess] = []

    def factory(*args: str, **kwargs: object) -> ServerProcess:
        server = start_server(*args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    try:
        yield start_nodes(factory, tmp_path, [("a", "primary"), ("b", "primary")], HALVES)
    finally:
        for server in started:
            server.stop()
