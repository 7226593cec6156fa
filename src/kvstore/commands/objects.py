"""OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ, HELP) and TOUCH.

kvstore keeps every value as one ``bytes`` object, so the encoding Redis would report is worked
out from the value, as Redis's ``tryObjectEncoding`` decides it when a value is stored whole
(SET, MSET, GETSET, RESTORE...): ``int`` for a canonical 64-bit integer of at most 20
characters, ``embstr`` up to 44 bytes, ``raw`` beyond. Redis keeps values that commands edit in
place (APPEND, SETRANGE, SETBIT, BITFIELD, BITOP) ``raw`` and INCRBYFLOAT's results strings
(never ``int``) whatever they hold; those commands pass their results through :func:`edited`.
A mark remembers the value object itself (only values of 1 to 44 bytes need one: longer ones
are ``raw`` anyway), so a later SET of the key, even to equal bytes, stores a new object that
has no mark, while RENAME and COPY carry it along; marks of values since replaced or deleted
are dropped now and then. SETBIT and BITFIELD writes that change nothing still make the value
``raw``, as in Redis, without counting a change (``Keyspace.swap_equal``).

REFCOUNT: Redis shares the objects of the integers 0 to 9999 (reported with refcount
2147483647) unless an LRU or LFU policy is in force under ``maxmemory``; every other value is
referenced once, a COPY of a shared integer too (:func:`copied`).

IDLETIME: under an ``*-lru`` policy (with ``--maxmemory``) the keyspace stamps each key's last
access, and IDLETIME reports the seconds since. Without one kvstore does not track accesses (a
stamp per read would cost every GET), so IDLETIME answers 0. FREQ: under an ``*-lfu`` policy
the keyspace counts each key's accesses as Redis does (:mod:`kvstore.eviction`), and FREQ
reports the counter; without one it answers Redis's error.
"""

from __future__ import annotations

import sys

from kvstore.commands.context import Session
from kvstore.commands.table import (
    SUBCOMMAND_TABLES,
    Args,
    Subcommands,
    command,
    dispatch_subcommand,
)
from kvstore.keyspace import Keyspace
from kvstore.protocol.replies import Reply, ReplyError, Status

EMBSTR_LIMIT = 44
SHARED_INTEGERS = 10_000
SHARED_REFCOUNT = 2_147_483_647
RAW, EMBSTR, INT = "raw", "embstr", "int"

#: id(value) -> (the value, the encoding Redis gives it), for values whose encoding is not what
#: their bytes say. Holding the value keeps its id from being reused, so a mark applies to that
#: very object wherever it goes (RENAME and COPY carry it along, as Redis keeps the encoding).
_marks: dict[int, tuple[bytes, str]] = {}
_prune_at = 1024
#: At most this many marks (about 100 bytes each, not counted in ``used_memory``): past it,
#: further edited values report the encoding their bytes imply.
MAX_MARKS = 1 << 16


def edited(value: bytes, encoding: str = RAW) -> bytes:
    """``value`` to store as a command's result whose encoding is ``encoding`` (``raw`` for a
    value edited in place, ``embstr`` for a number kept as text) rather than what its bytes
    say; marked as such. A one-byte value CPython shares with every other use of that byte is
    replaced by an equal object of its own, so the mark stays on this one."""
    global _prune_at
    if not value or len(value) > EMBSTR_LIMIT:
        return value  # the empty value is never edited; a longer one is raw anyway
    if len(_marks) >= _prune_at:
        # Drop the marks of values nothing else holds any more (replaced or deleted): the
        # mark's tuple, the loop variable and getrefcount's argument are the only references.
        for ident in [i for i, (v, _) in _marks.items() if sys.getrefcount(v) <= 3]:
            del _marks[ident]
        # The next look after as many new marks again (a full table is looked at no more
        # often than every MAX_MARKS edits, so the scans cost O(1) an edit).
        _prune_at = len(_marks) + max(1024, len(_marks))
    if len(_marks) >= MAX_MARKS:
        _prune_at -= 1  # counts edits down to the next look while the table is full
        return value
    if len(value) == 1 and (b"_" + value)[1:] is value:
        value = b"".join((value, b""))
    _marks[id(value)] = (value, encoding)
    return value


def _is_int(value: bytes) -> bool:
    """Whether Redis stores ``value`` as an integer: canonical decimal within 64 bits."""
    if not 0 < len(value) <= 20:
        return False
    digits = value[1:] if value[:1] == b"-" else value
    if not digits.isdigit() or not digits.isascii() or (digits[:1] == b"0" and value != b"0"):
        return False
    return -(2**63) <= int(value) < 2**63


def encoding_of(value: bytes) -> str:
    """The encoding Redis would report for ``value``."""
    mark = _marks.get(id(value))
    if mark is not None and mark[0] is value:
        return mark[1]
    if _is_int(value):
        return INT
    return EMBSTR if len(value) <= EMBSTR_LIMIT else RAW


def _shared(value: bytes) -> bool:
    """Whether Redis would store ``value`` as one of its shared integers (policy aside)."""
    if id(value) in _marks or not _is_int(value):
        return False
    return 0 <= int(value) < SHARED_INTEGERS


def copied(value: bytes) -> bytes:
    """The value COPY stores: Redis duplicates the object, so a shared integer's copy is an
    integer of its own (refcount 1); other values keep their encoding."""
    if not _shared(value):
        return value
    return edited(b"".join((value, b"")), INT)


def _lookup(session: Session, key: bytes) -> bytes | None:
    # Counted as a hit or a miss, but not an access (Redis's LOOKUP_NOTOUCH): the base
    # class's get, which an LRU keyspace does not stamp.
    return Keyspace.get(session.db, key)


def _settings(session: Session) -> tuple[int, str]:
    settings = session.server.settings()
    maxmemory = int(settings.get("maxmemory", "0") or 0)
    return maxmemory, settings.get("maxmemory-policy", "noeviction")


def _encoding(session: Session, args: Args) -> Reply:
    value = _lookup(session, args[2])
    if value is None:
        return None
    return encoding_of(value).encode()


def _refcount(session: Session, args: Args) -> Reply:
    value = _lookup(session, args[2])
    if value is None:
        return None
    maxmemory, policy = _settings(session)
    shared = not maxmemory or not policy.endswith(("-lru", "-lfu"))
    if shared and _shared(value):
        return SHARED_REFCOUNT
    return 1


def _idletime(session: Session, args: Args) -> Reply:
    value = _lookup(session, args[2])
    if value is None:
        return None
    if getattr(session.db, "freq", lambda key: None)(args[2]) is not None:
        raise ReplyError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
            "when switching between policies at runtime LRU and LFU data will take some time "
            "to adjust."
        )
    idle_ms = getattr(session.db, "idle_ms", None)
    if idle_ms is None:
        return 0
    idle = idle_ms(args[2])
    return 0 if idle is None else idle // 1000


def _freq(session: Session, args: Args) -> Reply:
    if _lookup(session, args[2]) is None:
        return None
    freq = getattr(session.db, "freq", None)  # an evicting keyspace, under an -lfu policy
    counted = None if freq is None else freq(args[2])
    if counted is not None:
        return int(counted)
    raise ReplyError(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
        "note that when switching between policies at runtime LRU and LFU data will take "
        "some time to adjust."
    )


HELP = (
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
)


def _help(session: Session, args: Args) -> Reply:
    return [Status(line) for line in HELP]


_OBJECT: Subcommands = {
    b"encoding": (3, _encoding),
    b"refcount": (3, _refcount),
    b"idletime": (3, _idletime),
    b"freq": (3, _freq),
    b"help": (2, _help),
}
SUBCOMMAND_TABLES[b"object"] = _OBJECT


@command("object", -2, "", group="generic", summary="Inspect the internals of a key's value.")
def object_(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_OBJECT, session, args)


@command(
    "touch",
    -2,
    "readonly fast",
    group="generic",
    summary="Count the given keys that exist, marking them accessed.",
    keys=(1, -1, 1),
    key_specs="RO",
    tips="request_policy:multi_shard response_policy:agg_sum",
)
def touch(session: Session, args: Args) -> Reply:
    get = session.db.get
    return sum(get(key) is not None for key in args[1:])
