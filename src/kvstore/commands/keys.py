"""Generic key commands."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import SYNTAX_ERROR, Args, command
from kvstore.protocol.replies import OK, Reply, ReplyError


@command("del", -2, "write", group="generic", summary="Delete keys.", keys=(1, -1, 1))
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
)
def exists(session: Session, args: Args) -> Reply:
    db = session.db
    return sum(db.contains(key) for key in args[1:])


@command("dbsize", 1, "readonly fast", group="server", summary="Count the keys.")
def dbsize(session: Session, args: Args) -> Reply:
    return len(session.db)


@command("flushdb", -1, "write", group="server", summary="Delete every key.")
def flushdb(session: Session, args: Args) -> Reply:
    if len(args) > 2 or (len(args) == 2 and args[1].lower() not in (b"async", b"sync")):
        raise ReplyError(SYNTAX_ERROR)
    session.db.clear()
    return OK


COMMANDS_FLUSHALL = command(
    "flushall", -1, "write", group="server", summary="Delete every key of every database."
)(flushdb)
