"""Where cluster mode keeps its metadata in etcd: everything under ``/kvstore/<name>/``.

- ``topology``: the topology document (JSON, :mod:`kvstore.cluster.topology`), changed only
  by transactions (created if absent, then compare-and-swap on its mod revision).
- ``shards/<shard ID>/leader``: the ID of the node leading the shard, under that node's lease;
  the key's create revision is the shard's epoch.
- ``shards/<shard ID>/sync``: ``{"leader": <node ID>, "members": [<node IDs>]}``, the nodes
  holding every write the shard acknowledged (the leader among them): only they may take the
  leader key. Changed only by the leader, in a transaction checking its epoch.
- ``shards/<shard ID>/failover``: an administrator's request for a graceful switch,
  ``{"to": <node ID> | null}``; the leader acts on it and deletes it.
"""

from __future__ import annotations

DEFAULT_NAME = "kvstore"


def prefix(name: str) -> bytes:
    return f"/kvstore/{name}/".encode()


def topology_key(name: str) -> bytes:
    return prefix(name) + b"topology"


def leader_key(name: str, shard_id: str) -> bytes:
    return prefix(name) + f"shards/{shard_id}/leader".encode()


def sync_key(name: str, shard_id: str) -> bytes:
    return prefix(name) + f"shards/{shard_id}/sync".encode()


def failover_key(name: str, shard_id: str) -> bytes:
    return prefix(name) + f"shards/{shard_id}/failover".encode()


def shard_key(name: str, key: bytes) -> tuple[str, str] | None:
    """The shard ID and the kind (``leader``, ``sync``, ``failover``) of a shard's key (None
    for any other key)."""
    head = prefix(name) + b"shards/"
    if not key.startswith(head):
        return None
    shard, _, kind = key[len(head) :].decode().rpartition("/")
    return (shard, kind) if shard and kind in ("leader", "sync", "failover") else None


def shard_of_leader_key(name: str, key: bytes) -> str | None:
    """The shard ID in a leader key (None for any other key)."""
    found = shard_key(name, key)
    return found[0] if found is not None and found[1] == "leader" else None
