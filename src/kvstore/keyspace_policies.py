"""The names of the ``--maxmemory-policy`` choices: a leaf at the keyspace's level.

:mod:`kvstore.eviction` implements each policy and is where the list is read from; the list is
written here, below both, because the configuration offers it as the option's choices and the
configuration sits under eviction in the layers (every layer reads it), so it cannot import
eviction. Nothing of kvstore is imported here.
"""

from __future__ import annotations

#: What a write does at ``--maxmemory``: refuse it (``noeviction``), or evict keys first.
MAXMEMORY_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lfu",
    "volatile-lfu",
)
