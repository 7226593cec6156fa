"""Replication: replicas that follow a primary, partial resynchronisation, WAIT.

Between the server and persistence: the server's assembly builds one :class:`Replication`
per node; the commands reach it through ``kvstore.commands.ports.ReplicationControl``. See
``docs/replication.md``.
"""

from kvstore.replication.node import Replication

__all__ = ["Replication"]
