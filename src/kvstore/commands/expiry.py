"""Expiry commands: EXPIRE and its relatives, TTL and its relatives, PERSIST.

Deadlines are absolute milliseconds since the Unix epoch (see :mod:`kvstore.keyspace`); the
relative forms add the keyspace clock's current time. The EXPIRE and TTL families run from
:mod:`kvstore.commands.hot` (compiled in the compiled build); they are registered here.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.handlers import hot
from kvstore.commands.table import Args, command
from kvstore.protocol.replies import Reply

for _name, _handler, _what in (
    ("expire", hot.expire, "Give a key a time to live in seconds"),
    ("pexpire", hot.pexpire, "Give a key a time to live in milliseconds"),
    ("expireat", hot.expireat, "Give a key a deadline as a Unix time in seconds"),
    ("pexpireat", hot.pexpireat, "Give a key a deadline as a Unix time in milliseconds"),
):
    command(
        _name,
        -3,
        "write fast",
        group="generic",
        summary=_what + " (NX: only if it has none, XX: only if it has one, GT/LT: only later"
        " or earlier; a time already past deletes the key).",
        keys=(1, 1, 1),
    )(_handler)


for _name, _handler, _absolute, _what in (
    ("ttl", hot.ttl, False, "A key's time to live in seconds"),
    ("pttl", hot.pttl, False, "A key's time to live in milliseconds"),
    ("expiretime", hot.expiretime, True, "A key's deadline as a Unix time in seconds"),
    ("pexpiretime", hot.pexpiretime, True, "A key's deadline as a Unix time in milliseconds"),
):
    command(
        _name,
        2,
        "readonly fast",
        group="generic",
        summary=_what + " (-1: no deadline, -2: no such key).",
        keys=(1, 1, 1),
        tips="" if _absolute else "nondeterministic_output",
    )(_handler)


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
