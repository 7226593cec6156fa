"""Expiry commands: EXPIRE and its relatives, TTL and its relatives, PERSIST.

Deadlines are absolute milliseconds since the Unix epoch (see :mod:`kvstore.keyspace`); the
relative forms add the keyspace clock's current time.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import INT64_MAX, Args, Handler, command, parse_int
from kvstore.protocol.replies import Reply, ReplyError

_CONDITIONS = (b"nx", b"xx", b"gt", b"lt")


def _conditions(options: Args) -> frozenset[bytes]:
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


def _expire_command(name: str, unit_ms: int, relative: bool) -> Handler:
    invalid = f"ERR invalid expire time in '{name}' command"

    def handler(session: Session, args: Args) -> Reply:
        conditions = _conditions(args[3:])
        amount = parse_int(args[2])
        if unit_ms != 1:
            if abs(amount) > INT64_MAX // unit_ms:  # the product would overflow 64 bits
                raise ReplyError(invalid)
            amount *= unit_ms
        db = session.db
        base = db.clock() if relative else 0
        if amount > INT64_MAX - base:
            raise ReplyError(invalid)
        deadline = amount + base
        if not db.contains(args[1]):
            return 0
        if conditions and not _allowed(conditions, db.deadline(args[1]), deadline):
            return 0
        db.expire_at(args[1], deadline)  # a deadline already past deletes the key
        return 1

    return handler


for _name, _unit, _relative, _what in (
    ("expire", 1000, True, "Give a key a time to live in seconds"),
    ("pexpire", 1, True, "Give a key a time to live in milliseconds"),
    ("expireat", 1000, False, "Give a key a deadline as a Unix time in seconds"),
    ("pexpireat", 1, False, "Give a key a deadline as a Unix time in milliseconds"),
):
    command(
        _name,
        -3,
        "write fast",
        group="generic",
        summary=_what + " (NX: only if it has none, XX: only if it has one, GT/LT: only later"
        " or earlier; a time already past deletes the key).",
        keys=(1, 1, 1),
    )(_expire_command(_name, _unit, _relative))


def _ttl_command(unit_ms: int, absolute: bool) -> Handler:
    def handler(session: Session, args: Args) -> Reply:
        db = session.db
        if db.get(args[1]) is None:  # a read look-up, counted as Redis counts it
            return -2
        deadline = db.deadline(args[1])
        if deadline is None:
            return -1
        left = deadline if absolute else max(deadline - db.clock(), 0)
        return left if unit_ms == 1 else (left + 500) // 1000

    return handler


for _name, _unit, _absolute, _what in (
    ("ttl", 1000, False, "A key's time to live in seconds"),
    ("pttl", 1, False, "A key's time to live in milliseconds"),
    ("expiretime", 1000, True, "A key's deadline as a Unix time in seconds"),
    ("pexpiretime", 1, True, "A key's deadline as a Unix time in milliseconds"),
):
    command(
        _name,
        2,
        "readonly fast",
        group="generic",
        summary=_what + " (-1: no deadline, -2: no such key).",
        keys=(1, 1, 1),
        tips="" if _absolute else "nondeterministic_output",
    )(_ttl_command(_unit, _absolute))


@command(
    "persist",
    2,
    "write fast",
    group="generic",
    summary="Remove a key's deadline.",
    keys=(1, 1, 1),
)
def persist(session: Session, args: Args) -> Reply:
    return int(session.db.persist(args[1]))
