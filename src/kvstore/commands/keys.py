"""Generic key commands."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.databases import log_other_db
from kvstore.commands.glob import compile_glob
from kvstore.commands.objects import copied
from kvstore.commands.table import SYNTAX_ERROR, Args, KeySpec, command, parse_int
from kvstore.keyspace import Keyspace
from kvstore.protocol.replies import OK, Reply, ReplyError, Status


@command(
    "del",
    -2,
    "write",
    group="generic",
    summary="Delete keys.",
    keys=(1, -1, 1),
    key_specs="RM delete",
    tips="request_policy:multi_shard response_policy:agg_sum",
)
def delete(session: Session, args: Args) -> Reply:
    db = session.db
    return sum(db.delete(key) for key in args[1:])


@command(
    "exists",
    -2,
    "readonly fast",
    group="generic",
    summary="Count the given keys that exist.",
    keys=(1, -1, 1),
    key_specs="RO",
    tips="request_policy:multi_shard response_policy:agg_sum",
)
def exists(session: Session, args: Args) -> Reply:
    db = session.db
    return sum(db.contains(key) for key in args[1:])


@command(
    "dbsize",
    1,
    "readonly fast",
    group="server",
    summary="Count the keys.",
    tips="request_policy:all_shards response_policy:agg_sum",
    acl="keyspace",
)
def dbsize(session: Session, args: Args) -> Reply:
    return len(session.db)


def _flush_options(args: Args) -> None:
    if len(args) > 2 or (len(args) == 2 and args[1].lower() not in (b"async", b"sync")):
        raise ReplyError(SYNTAX_ERROR)


@command(
    "flushdb",
    -1,
    "write",
    group="server",
    summary="Delete every key of the database.",
    tips="request_policy:all_shards response_policy:all_succeeded",
    acl="keyspace dangerous",
)
def flushdb(session: Session, args: Args) -> Reply:
    _flush_options(args)
    session.db.clear()
    return OK


@command(
    "flushall",
    -1,
    "write",
    group="server",
    summary="Delete every key of every database.",
    tips="request_policy:all_shards response_policy:all_succeeded",
    acl="keyspace dangerous",
)
def flushall(session: Session, args: Args) -> Reply:
    _flush_options(args)
    session.server.dbs.clear()
    log_other_db(session, args)
    return OK


# Memory is reclaimed at once either way: UNLINK is DEL under another name.
command(
    "unlink",
    -2,
    "write fast",
    group="generic",
    summary="Delete keys (memory is reclaimed at once, as by DEL).",
    keys=(1, -1, 1),
    key_specs="RM delete",
    tips="request_policy:multi_shard response_policy:agg_sum",
)(delete)


STRING_TYPE = Status("string")
NONE_TYPE = Status("none")


@command(
    "type",
    2,
    "readonly fast",
    group="generic",
    summary="The type of a key's value: string, or none if it does not exist.",
    keys=(1, 1, 1),
    key_specs="RO",
)
def type_(session: Session, args: Args) -> Reply:
    # A read look-up, counted as a hit or a miss as Redis counts it.
    return NONE_TYPE if session.db.get(args[1]) is None else STRING_TYPE


NO_SUCH_KEY = "ERR no such key"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@command(
    "rename",
    3,
    "write",
    group="generic",
    summary="Rename a key, replacing the target; the deadline moves with it.",
    keys=(1, 2, 1),
    key_specs=(KeySpec(("RW", "access", "delete"), 1), KeySpec(("OW", "update"), 2)),
)
def rename(session: Session, args: Args) -> Reply:
    db = session.db
    source, target = args[1], args[2]
    if not db.contains(source):
        raise ReplyError(NO_SUCH_KEY)
    if source != target:
        db.rename(source, target)
    return OK


@command(
    "renamenx",
    3,
    "write fast",
    group="generic",
    summary="Rename a key only if the new name is free.",
    keys=(1, 2, 1),
    key_specs=(KeySpec(("RW", "access", "delete"), 1), KeySpec(("OW", "insert"), 2)),
)
def renamenx(session: Session, args: Args) -> Reply:
    db = session.db
    source, target = args[1], args[2]
    if not db.contains(source):
        raise ReplyError(NO_SUCH_KEY)
    if source == target or db.contains(target):
        return 0
    db.rename(source, target)
    return 1


def _copy_options(session: Session, options: Args) -> tuple[bool, Keyspace]:
    """Parse COPY's options as Redis does, left to right; return whether REPLACE was given,
    and the database to copy to."""
    replace = False
    target = session.db
    i = 0
    while i < len(options):
        option = options[i].lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and i + 1 < len(options):
            i += 1
            index = parse_int(options[i])
            if not INT32_MIN <= index <= INT32_MAX:  # Redis reads the index as a C int
                raise ReplyError(
                    f"ERR value is out of range, value must between {INT32_MIN} and {INT32_MAX}"
                )
            if session.server.cluster is not None and index != 0:
                raise ReplyError("ERR Copying to another database is not allowed in cluster mode")
            dbs = session.server.dbs
            if not 0 <= index < len(dbs):
                raise ReplyError("ERR DB index is out of range")
            target = dbs[index]
        else:
            raise ReplyError(SYNTAX_ERROR)
        i += 1
    return replace, target


@command(
    "copy",
    -3,
    "write denyoom",
    group="generic",
    summary="Copy a key's value and deadline to another key.",
    keys=(1, 2, 1),
    key_specs=(KeySpec(("RO", "access"), 1), KeySpec(("OW", "update"), 2)),
)
def copy(session: Session, args: Args) -> Reply:
    replace, into = _copy_options(session, args[3:])
    source, target = args[1], args[2]
    db = session.db
    if source == target and into is db:
        raise ReplyError("ERR source and destination objects are the same")
    value = db.get(source)
    if value is None:
        return 0
    if not replace and into.contains(target):
        return 0
    into.set(target, copied(value), db.deadline(source))
    if into is not db:
        log_other_db(session, args)
    return 1


@command(
    "keys",
    2,
    "readonly",
    group="generic",
    summary="Every key matching a glob pattern (O(n): prefer SCAN on a large table).",
    tips="request_policy:all_shards nondeterministic_output_order",
    acl="dangerous",
)
def keys(session: Session, args: Args) -> Reply:
    pattern = args[1]
    live = session.db.keys()
    if pattern == b"*":  # no matching at all, so the empty key is included (as in Redis)
        return list(live)
    matches = compile_glob(pattern).matches
    return [key for key in live if matches(key)]


@command(
    "randomkey",
    1,
    "readonly",
    group="generic",
    summary="A random key, or nil.",
    tips="request_policy:all_shards nondeterministic_output",
)
def randomkey(session: Session, args: Args) -> Reply:
    return session.db.random_key()
