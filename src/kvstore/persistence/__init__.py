"""Durability: an append-only log of every write, snapshots, recovery and compaction.

The server's assembly creates a :class:`Persistence` with its :class:`PersistenceSettings`
(taken from the configuration, which this package does not import), telling it whom to tell
when the log's records are durable, and hands its journal to the dispatcher; nothing below
this package imports it. See ``docs/persistence.md``.
"""

from kvstore.persistence.manager import Persistence, PersistenceSettings
from kvstore.persistence.recovery import RecoveryError

__all__ = ["Persistence", "PersistenceSettings", "RecoveryError"]
