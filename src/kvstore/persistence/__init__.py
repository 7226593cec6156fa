"""Durability: an append-only log of every write, snapshots, recovery and compaction.

The server creates a :class:`Persistence` and installs its journal as the dispatcher's hook;
nothing below this package imports it. See ``docs/persistence.md``.
"""

from kvstore.persistence.manager import Persistence
from kvstore.persistence.recovery import RecoveryError

__all__ = ["Persistence", "RecoveryError"]
