"""A shard's sync key: which nodes hold every write the shard acknowledged.

``{"leader": <node ID>, "members": [<node IDs>]}``, the leader always among the members.
Only a member may take the shard's leader key, so a replica that may lack an acknowledged
write never becomes primary; the leader changes the key only in a transaction that checks it
still holds the leader key under its epoch (:func:`leader_conditions`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kvstore.cluster.metadata import Compare


@dataclass(frozen=True)
class SyncSet:
    leader: str
    members: tuple[str, ...]

    def to_json(self) -> bytes:
        return json.dumps({"leader": self.leader, "members": list(self.members)}).encode()


def parse(value: bytes) -> SyncSet | None:
    """The sync key's value (None if it is not one)."""
    try:
        document = json.loads(value)
        leader, members = document["leader"], document["members"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(leader, str) or not isinstance(members, list):
        return None
    if not all(isinstance(member, str) for member in members):
        return None
    return SyncSet(leader, tuple(members))


def leader_conditions(leader_key: bytes, epoch: int, node_id: str) -> list[Compare]:
    """The leader key still ``node_id``'s, created at ``epoch``: it may change the sync key."""
    return [Compare(leader_key, create_revision=epoch, value=node_id.encode())]
