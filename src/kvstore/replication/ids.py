"""Replication IDs: which history a stream of writes belongs to, as Redis's PSYNC2 keeps them.

A primary names its stream with a random 40-hex-digit ID; offsets count the stream's bytes.
A replica promoted to primary mints a new ID and keeps the old one (``replid2``) with the
offset where the old history stopped (``second_offset``, the first byte it did not take from
its primary), so replicas that followed the same primary can go on without a full copy.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

#: The ID a node reports when it has no second history (Redis's forty zeros).
NO_ID = "0" * 40


def new_replid() -> str:
    return secrets.token_hex(20)


@dataclass
class ReplicationIds:
    replid: str = field(default_factory=new_replid)
    replid2: str = NO_ID
    #: The first offset not in the ``replid2`` history (Redis's second_repl_offset); -1: none.
    second_offset: int = -1

    def shift(self, new_id: str, offset: int) -> None:
        """The history goes on under ``new_id`` from after ``offset`` (its last byte): the
        current ID becomes the second one. A promotion mints the ID; a replica takes its
        primary's new one."""
        self.replid2 = self.replid
        self.second_offset = offset + 1
        self.replid = new_id

    def knows(self, replid: str, psync_offset: int) -> bool:
        """A replica asking for bytes from ``psync_offset`` of history ``replid`` is on this
        node's history: its own ID, or the previous one up to where it stopped."""
        if replid == self.replid:
            return True
        return replid == self.replid2 and psync_offset <= self.second_offset
