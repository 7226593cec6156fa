"""Redis Cluster's key slots: CRC16 (XMODEM) of the key, or of its ``{hash tag}``, mod 16384.

A leaf beneath every layer (standard library only), so the command layer's cluster guard, the
cluster topology and the client library all compute a slot the same way.
"""

from __future__ import annotations

#: How many slots the key space is cut into, as in Redis Cluster.
SLOTS = 16384


def _table() -> tuple[int, ...]:
    """CRC16-CCITT (polynomial 0x1021, no reflection) for every byte value."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16 = _table()


def crc16(data: bytes) -> int:
    """CRC16 as Redis Cluster computes it (XMODEM: initial value 0)."""
    crc = 0
    table = _CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


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
