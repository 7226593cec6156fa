"""Redis Cluster's key slots: CRC16 (XMODEM) of the key, or of its ``{hash tag}``, mod 16384.

A leaf beneath every layer (standard library only), so the command layer's cluster guard, the
cluster topology and the client library all compute a slot the same way.
"""

from __future__ import annotations

import binascii

#: How many slots the key space is cut into, as in Redis Cluster.
SLOTS = 16384


def crc16(data: bytes) -> int:
    """CRC16 as Redis Cluster computes it (XMODEM: polynomial 0x1021, initial value 0), which
    is binascii's CRC-CCITT started from 0: computed in C, as every request in cluster mode
    needs it."""
    return binascii.crc_hqx(data, 0)


def hashed_part(key: bytes) -> bytes:
    """What decides ``key``'s slot: the text between the first ``{`` and the first ``}``
    after it when that is not empty (a hash tag), else the whole key."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_slot(key: bytes) -> int:
    """The slot ``key`` belongs to (CLUSTER KEYSLOT)."""
    return crc16(hashed_part(key)) & (SLOTS - 1)
