"""The bodies of the commands most requests are: GET, SET (with its options), MGET, MSET, the
INCR/DECR family, DEL, EXISTS, the EXPIRE and TTL families, PING.

Compiled in the compiled build (``hot.pxd``: the keyspace is the compiled extension type, its
methods called in C). This module registers nothing: the modules of each command's family
(strings, counters, keys, expiry, connection) register these handlers in the one command table,
taking them from :mod:`kvstore.commands.handlers`, which chooses the build. A handler behaves
exactly as the rest of the command layer expects (see :mod:`kvstore.commands.table`).
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import (
    INT64_MAX,
    INT64_MIN,
    SYNTAX_ERROR,
    Args,
    parse_int,
    wrong_arity,
)
from kvstore.keyspace import Clock, Keyspace
from kvstore.protocol.replies import OK, PONG, Reply, ReplyError

OVERFLOW = "ERR increment or decrement would overflow"

# -- SET's and GETEX's options ------------------------------------------------------------------
#
# Redis reads every option first (a misplaced word is a syntax error even after a bad number),
# and only then the expire time: two steps, :func:`parse_options`, then :func:`expire_deadline`.
# An option may repeat (``NX NX``, ``EX 1 EX 2``: the last time wins); the ones that contradict
# each other (``NX XX``, ``EX 1 PX 2``, ``KEEPTTL EX 1``) are refused.

#: The options that are flags, as bits of :func:`parse_options`'s first result.
NX = 1
XX = 2
GET = 4
KEEP_TTL = 8
PERSIST = 16
#: Milliseconds per unit of each expiry option.
_UNIT_MS = {b"ex": 1000, b"px": 1, b"exat": 1000, b"pxat": 1}
_RELATIVE = (b"ex", b"px")


def parse_options(options: Args, for_set: bool) -> tuple[int, bytes, bytes]:
    """SET's options (``for_set``) or GETEX's: (the flags' bits, the expiry option (``ex``,
    ``px``, ``exat``, ``pxat``; empty for none), its number unread); raise the syntax error
    Redis gives."""
    flags = 0
    expiry = b""
    amount = b""
    count = len(options)
    i = 0
    while i < count:
        # Redis compares option names as C strings, so a NUL ends one.
        option = options[i].split(b"\0", 1)[0].lower()
        if for_set and option == b"nx" and not flags & XX:
            flags |= NX
        elif for_set and option == b"xx" and not flags & NX:
            flags |= XX
        elif for_set and option == b"get":
            flags |= GET
        elif for_set and option == b"keepttl" and not expiry:
            flags |= KEEP_TTL
        elif not for_set and option == b"persist" and not expiry:
            flags |= PERSIST
        elif (
            option in _UNIT_MS
            and i + 1 < count
            and not flags & (KEEP_TTL | PERSIST)
            and (not expiry or expiry == option)
        ):
            expiry = option
            amount = options[i + 1]
            i += 1
        else:
            raise ReplyError(SYNTAX_ERROR)
        i += 1
    return flags, expiry, amount


def expire_deadline(clock: Clock, expiry: bytes, amount: bytes, command_name: str) -> int:
    """The absolute deadline an expiry option names (relative ones from ``clock``'s time),
    refused as Redis refuses it: not a number, not positive, or past the largest 64-bit
    millisecond time once converted."""
    number = parse_int(amount)
    scale = _UNIT_MS[expiry]
    if number <= 0 or number > INT64_MAX // scale:
        raise invalid_expire_time(command_name)
    deadline = number * scale
    if expiry in _RELATIVE:
        deadline += clock()
        if deadline > INT64_MAX:  # Redis's 64-bit sum would wrap negative
            raise invalid_expire_time(command_name)
    return deadline


def invalid_expire_time(command_name: str) -> ReplyError:
    return ReplyError(f"ERR invalid expire time in '{command_name}' command")


# -- strings ------------------------------------------------------------------------------------


def get(session: Session, args: Args) -> Reply:
    db = session.db
    return db.get(args[1])


def set_(session: Session, args: Args) -> Reply:
    db = session.db
    if len(args) == 3:
        db.set(args[1], args[2])
        return OK
    key = args[1]
    value = args[2]
    flags, expiry, amount = parse_options(args[3:], True)
    deadline = expire_deadline(db.clock, expiry, amount, "set") if expiry else None
    with_get = flags & GET
    old = db.get(key) if with_get else None
    exists = old is not None if with_get else db.contains(key)
    if (flags & NX and exists) or (flags & XX and not exists):
        return old if with_get else None
    if flags & KEEP_TTL:
        db.set_keep_deadline(key, value)
    else:
        db.set(key, value, deadline)
    return old if with_get else OK


def mget(session: Session, args: Args) -> Reply:
    db = session.db
    return [db.get(key) for key in args[1:]]


def mset(session: Session, args: Args) -> Reply:
    count = len(args)
    if count % 2 == 0:
        raise wrong_arity("mset")
    db = session.db
    for i in range(1, count, 2):
        db.set(args[i], args[i + 1])
    return OK


# -- counters -----------------------------------------------------------------------------------


def _increment(db: Keyspace, key: bytes, by: int) -> Reply:
    current = db.get(key)
    total = by if current is None else parse_int(current) + by
    if not INT64_MIN <= total <= INT64_MAX:
        raise ReplyError(OVERFLOW)
    if current is None:
        db.set(key, b"%d" % total)
    else:  # changing a counter keeps the key's expiry, as Redis does
        db.set_keep_deadline(key, b"%d" % total)
    return total


def incr(session: Session, args: Args) -> Reply:
    return _increment(session.db, args[1], 1)


def decr(session: Session, args: Args) -> Reply:
    return _increment(session.db, args[1], -1)


def incrby(session: Session, args: Args) -> Reply:
    return _increment(session.db, args[1], parse_int(args[2]))


def decrby(session: Session, args: Args) -> Reply:
    by = parse_int(args[2])
    if by == INT64_MIN:  # its negation is not a 64-bit integer
        raise ReplyError("ERR decrement would overflow")
    return _increment(session.db, args[1], -by)


# -- keys ---------------------------------------------------------------------------------------


def delete(session: Session, args: Args) -> Reply:
    db = session.db
    removed = 0
    for key in args[1:]:
        if db.delete(key):
            removed += 1
    return removed


def exists(session: Session, args: Args) -> Reply:
    db = session.db
    found = 0
    for key in args[1:]:
        if db.contains(key):
            found += 1
    return found


# -- expiry -------------------------------------------------------------------------------------

_CONDITIONS = (b"nx", b"xx", b"gt", b"lt")


def expire_conditions(options: Args) -> frozenset[bytes]:
    """EXPIRE's NX, XX, GT and LT options, checked as Redis checks them (before the time)."""
    given: set[bytes] = set()
    for option in options:
        lowered = option.lower()
        if lowered not in _CONDITIONS:
            shown = option.split(b"\0", 1)[0].decode("utf-8", "replace")  # C prints up to a NUL
            raise ReplyError(f"ERR Unsupported option {shown}")
        given.add(lowered)
    if b"nx" in given and len(given) > 1:
        raise ReplyError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if b"gt" in given and b"lt" in given:
        raise ReplyError("ERR GT and LT options at the same time are not compatible")
    return frozenset(given)


def _allowed(conditions: frozenset[bytes], current: int | None, deadline: int) -> bool:
    """Whether the options let ``deadline`` replace ``current`` (None: no deadline, which GT
    and LT treat as infinite)."""
    if b"nx" in conditions and current is not None:
        return False
    if b"xx" in conditions and current is None:
        return False
    if b"gt" in conditions and (current is None or deadline <= current):
        return False
    return not (b"lt" in conditions and current is not None and deadline >= current)


def _expire(session: Session, args: Args, name: str, unit_ms: int, relative: bool) -> Reply:
    """EXPIRE and its relatives: ``key amount [NX|XX|GT|LT]``, in ``unit_ms`` milliseconds,
    from now (``relative``) or from the Unix epoch."""
    conditions = expire_conditions(args[3:])
    amount = parse_int(args[2])
    if unit_ms != 1:
        if abs(amount) > INT64_MAX // unit_ms:  # the product would overflow 64 bits
            raise ReplyError(f"ERR invalid expire time in '{name}' command")
        amount *= unit_ms
    db = session.db
    base = db.clock() if relative else 0
    if amount > INT64_MAX - base:
        raise ReplyError(f"ERR invalid expire time in '{name}' command")
    deadline = amount + base
    key = args[1]
    if not db.contains(key):
        return 0
    if conditions and not _allowed(conditions, db.deadline(key), deadline):
        return 0
    db.expire_at(key, deadline)  # a deadline already past deletes the key
    return 1


def expire(session: Session, args: Args) -> Reply:
    return _expire(session, args, "expire", 1000, True)


def pexpire(session: Session, args: Args) -> Reply:
    return _expire(session, args, "pexpire", 1, True)


def expireat(session: Session, args: Args) -> Reply:
    return _expire(session, args, "expireat", 1000, False)


def pexpireat(session: Session, args: Args) -> Reply:
    return _expire(session, args, "pexpireat", 1, False)


def _ttl(session: Session, args: Args, unit_ms: int, absolute: bool) -> Reply:
    """TTL and its relatives: -2 for a missing key, -1 for one without a deadline."""
    db = session.db
    key = args[1]
    if db.get(key) is None:  # a read look-up, counted as Redis counts it
        return -2
    deadline = db.deadline(key)
    if deadline is None:
        return -1
    left = deadline if absolute else max(deadline - db.clock(), 0)
    return left if unit_ms == 1 else (left + 500) // 1000


def ttl(session: Session, args: Args) -> Reply:
    return _ttl(session, args, 1000, False)


def pttl(session: Session, args: Args) -> Reply:
    return _ttl(session, args, 1, False)


def expiretime(session: Session, args: Args) -> Reply:
    return _ttl(session, args, 1000, True)


def pexpiretime(session: Session, args: Args) -> Reply:
    return _ttl(session, args, 1, True)


# -- connection ---------------------------------------------------------------------------------


def ping(session: Session, args: Args) -> Reply:
    count = len(args)
    if count > 2:
        raise ReplyError("ERR wrong number of arguments for 'ping' command")
    if session.subscriptions is not None and session.protocol == 2:
        return [b"pong", args[1] if count == 2 else b""]
    return args[1] if count == 2 else PONG
