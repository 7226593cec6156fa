"""String commands: GET, SET and their relatives that read or replace whole values.

Counters (INCR...) are in :mod:`kvstore.commands.counters`, edits of part of a value (APPEND,
SETRANGE...) in :mod:`kvstore.commands.substrings`, SET's and GETEX's options in
:mod:`kvstore.commands.string_options`.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.handlers import hot
from kvstore.commands.string_options import StringOptions, deadline_ms, parse_options
from kvstore.commands.table import Args, KeySpec, command, wrong_arity
from kvstore.protocol.replies import OK, Reply

# GET, SET, MGET and MSET run from kvstore.commands.hot (compiled in the compiled build).


command(
    "get", 2, "readonly fast", group="string", summary="Get the value of a key.", keys=(1, 1, 1)
)(hot.get)


command(
    "set",
    -3,
    "write denyoom",
    group="string",
    summary="Set the string value of a key, optionally only if it exists or not, with an expiry.",
    keys=(1, 1, 1),
    key_specs=(
        KeySpec(
            ("RW", "access", "update", "variable_flags"),
            1,
            notes="RW and ACCESS due to the optional `GET` argument",
        ),
    ),
)(hot.set_)


@command(
    "setnx",
    3,
    "write denyoom fast",
    group="string",
    summary="Set a key only if it does not exist.",
    keys=(1, 1, 1),
    key_specs="OW insert",
)
def setnx(session: Session, args: Args) -> Reply:
    db = session.db
    if db.contains(args[1]):
        return 0
    db.set(args[1], args[2])
    return 1


def _set_expiring(session: Session, args: Args, unit: bytes, name: str) -> Reply:
    """SETEX and PSETEX: ``key amount value``, the amount in the unit of SET's option."""
    deadline = deadline_ms(session, StringOptions(expiry=unit, amount=args[2]), name)
    session.db.set(args[1], args[3], deadline)
    return OK


@command(
    "setex",
    4,
    "write denyoom",
    group="string",
    summary="Set a key with an expiry in seconds.",
    keys=(1, 1, 1),
    key_specs="OW update",
)
def setex(session: Session, args: Args) -> Reply:
    return _set_expiring(session, args, b"ex", "setex")


@command(
    "psetex",
    4,
    "write denyoom",
    group="string",
    summary="Set a key with an expiry in milliseconds.",
    keys=(1, 1, 1),
    key_specs="OW update",
)
def psetex(session: Session, args: Args) -> Reply:
    return _set_expiring(session, args, b"px", "psetex")


@command(
    "getset",
    3,
    "write denyoom fast",
    group="string",
    summary="Set a key and return its old value (its expiry is dropped).",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def getset(session: Session, args: Args) -> Reply:
    db = session.db
    old = db.get(args[1])
    db.set(args[1], args[2])
    return old


@command(
    "getdel",
    2,
    "write fast",
    group="string",
    summary="Return the value of a key and delete it.",
    keys=(1, 1, 1),
    key_specs="RW access delete",
)
def getdel(session: Session, args: Args) -> Reply:
    db = session.db
    value = db.get(args[1])
    if value is not None:
        db.delete(args[1])
    return value


@command(
    "getex",
    -2,
    "write fast",
    group="string",
    summary="Return the value of a key and set or remove its expiry.",
    keys=(1, 1, 1),
    key_specs=(
        KeySpec(("RW", "access", "update"), 1, notes="RW and UPDATE because it changes the TTL"),
    ),
)
def getex(session: Session, args: Args) -> Reply:
    db = session.db
    key = args[1]
    options = parse_options(args[2:], for_set=False)
    value = db.get(key)
    if value is None:  # before the expire time is read: a missing key is nil, whatever it says
        return None
    _apply_expiry(session, key, options)
    return value


def _apply_expiry(session: Session, key: bytes, options: StringOptions) -> None:
    db = session.db
    if options.expiry:
        # expire_at deletes the key if the deadline has passed (EXAT/PXAT in the past).
        db.expire_at(key, deadline_ms(session, options, "getex"))
    elif options.persist:
        db.persist(key)


command(
    "mget",
    -2,
    "readonly fast",
    group="string",
    summary="Return the values of several keys.",
    keys=(1, -1, 1),
    tips="request_policy:multi_shard",
)(hot.mget)


def _pairs(args: Args, name: str) -> list[tuple[bytes, bytes]]:
    if len(args) % 2 == 0:
        raise wrong_arity(name)
    return list(zip(args[1::2], args[2::2], strict=True))


command(
    "mset",
    -3,
    "write denyoom",
    group="string",
    summary="Set several keys (their expiries are dropped).",
    keys=(1, -1, 2),
    key_specs="OW update",
    tips="request_policy:multi_shard response_policy:all_succeeded",
)(hot.mset)


@command(
    "msetnx",
    -3,
    "write denyoom",
    group="string",
    summary="Set several keys only if none of them exists.",
    keys=(1, -1, 2),
    key_specs="OW insert",
    tips="request_policy:multi_shard response_policy:agg_min",
)
def msetnx(session: Session, args: Args) -> Reply:
    db = session.db
    pairs = _pairs(args, "msetnx")
    if any(db.contains(key) for key, _ in pairs):
        return 0
    for key, value in pairs:
        db.set(key, value)
    return 1
