"""Counters: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.

A counter is an ordinary string value holding a number in decimal; a missing key counts as 0.
Changing a counter keeps the key's expiry, as Redis does.
"""

from __future__ import annotations

from fractions import Fraction

from kvstore.commands import long_double
from kvstore.commands.context import Session
from kvstore.commands.objects import EMBSTR, edited
from kvstore.commands.table import INT64_MAX, INT64_MIN, Args, command, parse_int
from kvstore.protocol.replies import Reply, ReplyError

OVERFLOW = "ERR increment or decrement would overflow"
NOT_A_FLOAT = "ERR value is not a valid float"
NOT_FINITE = "ERR increment would produce NaN or Infinity"


def _store(session: Session, key: bytes, value: bytes, existed: bool) -> None:
    if existed:
        session.db.set_keep_deadline(key, value)
    else:
        session.db.set(key, value)


def _increment(session: Session, key: bytes, by: int) -> Reply:
    current = session.db.get(key)
    total = by if current is None else parse_int(current) + by
    if not INT64_MIN <= total <= INT64_MAX:
        raise ReplyError(OVERFLOW)
    _store(session, key, b"%d" % total, current is not None)
    return total


@command(
    "incr",
    2,
    "write denyoom fast",
    group="string",
    summary="Add 1 to the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def incr(session: Session, args: Args) -> Reply:
    return _increment(session, args[1], 1)


@command(
    "decr",
    2,
    "write denyoom fast",
    group="string",
    summary="Subtract 1 from the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def decr(session: Session, args: Args) -> Reply:
    return _increment(session, args[1], -1)


@command(
    "incrby",
    3,
    "write denyoom fast",
    group="string",
    summary="Add an integer to the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def incrby(session: Session, args: Args) -> Reply:
    return _increment(session, args[1], parse_int(args[2]))


@command(
    "decrby",
    3,
    "write denyoom fast",
    group="string",
    summary="Subtract an integer from the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def decrby(session: Session, args: Args) -> Reply:
    by = parse_int(args[2])
    if by == INT64_MIN:  # its negation is not a 64-bit integer
        raise ReplyError("ERR decrement would overflow")
    return _increment(session, args[1], -by)


@command(
    "incrbyfloat",
    3,
    "write denyoom fast",
    group="string",
    summary="Add a floating-point number to the value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def incrbyfloat(session: Session, args: Args) -> Reply:
    key = args[1]
    current = session.db.get(key)
    try:
        value = Fraction(0) if current is None else long_double.parse(current)
        increment = long_double.parse(args[2])
    except long_double.NotAFloatError:
        raise ReplyError(NOT_A_FLOAT) from None
    try:
        total = long_double.add(value, increment)
    except long_double.InfiniteError:
        raise ReplyError(NOT_FINITE) from None
    text = long_double.format_human(total)
    text = edited(text, EMBSTR)  # Redis keeps the result as text, never as an integer
    _store(session, key, text, current is not None)
    return text
