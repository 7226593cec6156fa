"""Counters: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.

A counter is an ordinary string value holding a number in decimal; a missing key counts as 0.
Changing a counter keeps the key's expiry, as Redis does.
"""

from __future__ import annotations

from fractions import Fraction

from kvstore.commands import long_double
from kvstore.commands.context import Session
from kvstore.commands.handlers import hot
from kvstore.commands.objects import EMBSTR, edited
from kvstore.commands.table import Args, command
from kvstore.protocol.replies import Reply, ReplyError

NOT_A_FLOAT = "ERR value is not a valid float"
NOT_FINITE = "ERR increment would produce NaN or Infinity"


def _store(session: Session, key: bytes, value: bytes, existed: bool) -> None:
    if existed:
        session.db.set_keep_deadline(key, value)
    else:
        session.db.set(key, value)


# INCR, DECR, INCRBY and DECRBY run from kvstore.commands.hot (compiled in the compiled build).
command(
    "incr",
    2,
    "write denyoom fast",
    group="string",
    summary="Add 1 to the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)(hot.incr)


command(
    "decr",
    2,
    "write denyoom fast",
    group="string",
    summary="Subtract 1 from the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)(hot.decr)


command(
    "incrby",
    3,
    "write denyoom fast",
    group="string",
    summary="Add an integer to the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)(hot.incrby)


command(
    "decrby",
    3,
    "write denyoom fast",
    group="string",
    summary="Subtract an integer from the integer value of a key.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)(hot.decrby)


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
