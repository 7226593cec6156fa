"""Where cluster mode keeps its metadata in etcd: everything under ``/kvstore/<name>/``.

- ``topology``: the topology document (JSON, :mod:`kvstore.cluster.topology`), changed only
  by transactions (created if absent, then compare-and-swap on its mod revision).
- ``shards/<shard ID>/leader``: the ID of the node leading the shard, under that node's lease;
  the key's create revision is the shard's epoch.
"""

from __future__ import annotations

DEFAULT_NAME = "kvstore"


def prefix(name: str) -> bytes:
    return f"/kvstore/{name}/".encode()


def topology_key(name: str) -> bytes:
    return prefix(name) + b"topology"


def leader_key(name: str, shard_id: str) -> bytes:
    return prefix(name) + f"shards/{shard_id}/leader".encode()


def shard_of_leader_key(name: str, key: bytes) -> str | None:
    """The shard ID in a leader key (None for any other key)."""
    head = prefix(name) + b"shards/"
    if key.startswith(head) and key.endswith(b"/leader"):
        return key[len(head) : -len(b"/leader")].decode()
    return None
