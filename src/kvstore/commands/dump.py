"""DUMP and RESTORE, with the payload Redis 7.0 makes and reads for a string value.

A payload is the value's RDB encoding, then the RDB version (10, two bytes little-endian) and
a CRC-64 (Jones polynomial, reflected, as Redis's ``crc64``; eight bytes little-endian) of all
that precedes it. A string's RDB encoding is its type byte (0) and then, as Redis writes it:

- an integer of at most 11 characters in canonical form that fits 32 bits: ``0xC0`` and one
  byte, ``0xC1`` and two, ``0xC2`` and four (little-endian, signed);
- a string of more than 20 bytes that LZF shrinks by more than 4 bytes: ``0xC3``, the
  compressed and the original lengths, the compressed bytes (:mod:`kvstore.commands.lzf`
  makes liblzf's choices, so the payload is Redis's byte for byte);
- otherwise its length and its bytes. Lengths take 1 byte below 64, 2 below 16384, else 5
  (``0x80`` and 32 bits big-endian) or 9 (``0x81`` and 64 bits).

Values longer than :data:`COMPRESS_LIMIT` are written uncompressed (any Redis reads them):
compressing in Python costs about a microsecond a byte, which would hold every client up.
RESTORE reads every string encoding, LZF included, and refuses payloads of other types (a
list, a hash...) with Redis's ``Bad data format``: kvstore keeps strings only. Its IDLETIME
sets the key's last access under an ``-lru`` policy (the only time kvstore tracks accesses).
"""

from __future__ import annotations

from kvstore.commands import lzf
from kvstore.commands.context import Session
from kvstore.commands.table import INT64_MAX, SYNTAX_ERROR, Args, command, parse_int
from kvstore.protocol.replies import OK, Reply, ReplyError

RDB_VERSION = 10
STRING_TYPE = 0
COMPRESS_LIMIT = 1 << 20
_JONES_REFLECTED = 0x95AC9329AC4BC9B5


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _JONES_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Redis's CRC-64 of ``data``: ``crc64(b"123456789") == 0xE9C6D914C4B8D9CA``."""
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _length(size: int) -> bytes:
    if size < 1 << 6:
        return bytes((size,))
    if size < 1 << 14:
        return bytes((0x40 | size >> 8, size & 0xFF))
    if size <= 0xFFFFFFFF:
        return b"\x80" + size.to_bytes(4, "big")
    return b"\x81" + size.to_bytes(8, "big")


def _as_integer(value: bytes) -> bytes | None:
    """The integer encoding of ``value`` if Redis would use one."""
    if not 0 < len(value) <= 11:
        return None
    digits = value[1:] if value[:1] == b"-" else value
    if not digits.isdigit() or not digits.isascii() or (digits[:1] == b"0" and value != b"0"):
        return None
    number = int(value)
    for marker, width in ((0xC0, 1), (0xC1, 2), (0xC2, 4)):
        if -(1 << (8 * width - 1)) <= number < 1 << (8 * width - 1):
            return bytes((marker,)) + number.to_bytes(width, "little", signed=True)
    return None


def encode_string(value: bytes) -> bytes:
    """``value`` in RDB's string encoding, as Redis 7.0 writes it with ``rdbcompression yes``."""
    integer = _as_integer(value)
    if integer is not None:
        return integer
    if 20 < len(value) <= COMPRESS_LIMIT:
        packed = lzf.compress(value, len(value) - 4)
        if packed is not None:
            return b"\xc3" + _length(len(packed)) + _length(len(value)) + packed
    return _length(len(value)) + value


def payload(value: bytes) -> bytes:
    """DUMP's serialization of a string value."""
    body = bytes((STRING_TYPE,)) + encode_string(value) + RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


class _BadDataError(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise _BadDataError
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def length(self) -> tuple[int, bool]:
        """A length, or (with True) a special encoding's number."""
        first = self.take(1)[0]
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.take(1)[0], False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise _BadDataError

    def string(self) -> bytes:
        size, special = self.length()
        if not special:
            return self.take(size)
        if size <= 2:  # an 8, 16 or 32-bit integer
            return b"%d" % int.from_bytes(self.take(1 << size), "little", signed=True)
        if size == 3:
            packed_size, special = self.length()
            original_size, special2 = self.length()
            if special or special2:
                raise _BadDataError
            value = lzf.decompress(self.take(packed_size), original_size)
            if value is None:
                raise _BadDataError
            return value
        raise _BadDataError


def _verified(data: bytes) -> bool:
    """Whether ``data`` ends with a version Redis 7.0 reads and a matching checksum."""
    if len(data) < 10:
        return False
    if int.from_bytes(data[-10:-8], "little") > RDB_VERSION:
        return False
    return crc64(data[:-8]) == int.from_bytes(data[-8:], "little")


def load(data: bytes) -> bytes | None:
    """The string value in a verified payload, or None if it holds anything else. As in
    Redis, the value is read from the whole payload (footer included) and need not end where
    the footer starts."""
    reader = _Reader(data)
    try:
        if reader.take(1)[0] != STRING_TYPE:
            return None
        return reader.string()
    except _BadDataError:
        return None


@command(
    "dump",
    2,
    "readonly",
    group="generic",
    summary="Serialize a key's value as Redis's DUMP does (nil for a missing key).",
    keys=(1, 1, 1),
    tips="nondeterministic_output",
)
def dump(session: Session, args: Args) -> Reply:
    value = session.db.get(args[1])
    return None if value is None else payload(value)


def _restore_options(args: Args) -> tuple[bool, bool, int | None, int | None]:
    """REPLACE, ABSTTL, IDLETIME (seconds, or None) and FREQ (or None): IDLETIME or FREQ, not
    both."""
    replace = absolute = False
    idle: int | None = None
    freq: int | None = None
    i = 4
    while i < len(args):
        option = args[i].lower()
        more = i + 1 < len(args)
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absolute = True
        elif option == b"idletime" and more and freq is None:
            idle = parse_int(args[i + 1])
            if idle < 0:
                raise ReplyError("ERR Invalid IDLETIME value, must be >= 0")
            i += 1
        elif option == b"freq" and more and idle is None:
            freq = parse_int(args[i + 1])
            if not 0 <= freq <= 255:
                raise ReplyError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            i += 1
        else:
            raise ReplyError(SYNTAX_ERROR)
        i += 1
    return replace, absolute, idle, freq


@command(
    "restore",
    -4,
    "write denyoom",
    group="generic",
    summary="Create a key from a DUMP payload, optionally replacing it, with a time to live.",
    keys=(1, 1, 1),
    key_specs="OW update",
    acl="dangerous",
)
def restore(session: Session, args: Args) -> Reply:
    return _restore(session, args)


@command(
    "restore-asking",
    -4,
    "write denyoom asking",
    group="server",
    summary="RESTORE as if after ASKING: how MIGRATE moves keys in cluster mode.",
    keys=(1, 1, 1),
    key_specs="OW update",
    acl="keyspace dangerous",
)
def restore_asking(session: Session, args: Args) -> Reply:
    return _restore(session, args)


def _restore(session: Session, args: Args) -> Reply:
    replace, absolute, idle, freq = _restore_options(args)
    db = session.db
    key = args[1]
    if not replace and db.contains(key):
        raise ReplyError("BUSYKEY Target key name already exists.")
    ttl = parse_int(args[2])
    if ttl < 0:
        raise ReplyError("ERR Invalid TTL value, must be >= 0")
    if not _verified(args[3]):
        raise ReplyError("ERR DUMP payload version or checksum are wrong")
    value = load(args[3])
    if value is None:
        raise ReplyError("ERR Bad data format")
    now = db.clock()
    if ttl and not absolute:
        ttl += now
        if ttl > INT64_MAX:  # Redis's signed addition wraps around: a deadline in the past
            ttl -= 1 << 64
    if ttl and ttl <= now:
        if replace:
            db.delete(key)
        return OK
    db.set(key, value, ttl or None)
    # An evicting keyspace: it keeps them under an -lru or an -lfu policy, as Redis.
    set_idle = getattr(db, "set_idle_ms", None)
    if idle is not None and set_idle is not None:
        set_idle(key, min(idle, INT64_MAX // 1000) * 1000)
    set_freq = getattr(db, "set_freq", None)
    if freq is not None and set_freq is not None:
        set_freq(key, freq)
    return OK
