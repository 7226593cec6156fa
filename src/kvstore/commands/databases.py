"""The numbered databases: SELECT, MOVE, SWAPDB, and the number parsing they share."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import NOT_AN_INTEGER, Args, command, parse_int
from kvstore.keyspace import Keyspace
from kvstore.protocol.replies import OK, Reply, ReplyError

OUT_OF_RANGE = "ERR DB index is out of range"


def log_other_db(session: Session, args: Args) -> None:
    """Tell the log what this command did to other databases than the session's."""
    journal = session.server.journal
    if journal is not None:
        journal.record_other_db(args[0].decode().lower(), args, session.db)


def _number(raw: bytes, error: str) -> int:
    try:
        return parse_int(raw)
    except ReplyError:
        raise ReplyError(error) from None


def _in_range(session: Session, index: int) -> Keyspace:
    dbs = session.server.dbs
    if not 0 <= index < len(dbs):
        raise ReplyError(OUT_OF_RANGE)
    return dbs[index]


def database(session: Session, raw: bytes, error: str = NOT_AN_INTEGER) -> Keyspace:
    """The database numbered ``raw``, with Redis's errors: ``error`` if it is no integer,
    "DB index is out of range" if there is no such database."""
    return _in_range(session, _number(raw, error))


@command(
    "select", 2, "loading stale fast", group="connection", summary="Change the selected database."
)
def select(session: Session, args: Args) -> Reply:
    index = _number(args[1], NOT_AN_INTEGER)
    if session.server.cluster is not None and index != 0:
        raise ReplyError("ERR SELECT is not allowed in cluster mode")
    session.db = _in_range(session, index)
    return OK


@command(
    "move",
    3,
    "write fast",
    group="generic",
    summary="Move a key to another database.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def move(session: Session, args: Args) -> Reply:
    if session.server.cluster is not None:
        raise ReplyError("ERR MOVE is not allowed in cluster mode")
    source = session.db
    target = database(session, args[2])
    if target is source:
        raise ReplyError("ERR source and destination objects are the same")
    key = args[1]
    entry = source.entry(key)
    if entry is None or target.contains(key):
        return 0
    target.set(key, entry[0], entry[1])
    source.delete(key)
    log_other_db(session, args)
    return 1


@command(
    "swapdb",
    3,
    "write fast",
    group="server",
    summary="Swap two databases.",
    acl="keyspace dangerous",
)
def swapdb(session: Session, args: Args) -> Reply:
    if session.server.cluster is not None:
        raise ReplyError("ERR SWAPDB is not allowed in cluster mode")
    # Both numbers are read before either is checked against the databases, as in Redis.
    first_index = _number(args[1], "ERR invalid first DB index")
    second_index = _number(args[2], "ERR invalid second DB index")
    first, second = _in_range(session, first_index), _in_range(session, second_index)
    session.server.dbs.swap(first.index, second.index)
    log_other_db(session, args)
    return OK
