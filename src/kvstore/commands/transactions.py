"""Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis 7's rules and replies.

After MULTI the dispatcher queues every command except those in :data:`RUN_IN_MULTI` and
answers ``QUEUED``; a command refused while queueing (unknown, wrong arity) spoils the
transaction (:func:`refuse`). EXEC runs the queue through the dispatcher, so each queued command
is counted, checked and logged once, at EXEC, exactly as if a client had sent it then. No
handler awaits, so the whole EXEC happens in one event-loop step: nothing else runs in between.

WATCH is optimistic locking: the keyspace marks a connection's :class:`~kvstore.keyspace.Watch`
dirty when a watched key changes (any write, deletion, expiry or flush, by anyone, this
connection included), and EXEC then answers the null array without running anything.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.memory import OOM_MESSAGE, out_of_memory
from kvstore.commands.table import COMMANDS, Args, command
from kvstore.keyspace import Watch
from kvstore.protocol.replies import NIL_ARRAY, OK, Reply, ReplyError

#: Commands that run at once inside MULTI instead of being queued (Redis's list).
RUN_IN_MULTI = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})

EXEC_ABORTED = "EXECABORT Transaction discarded because of previous errors."


def refuse(session: Session, name: str, error: ReplyError) -> ReplyError:
    """``error`` for a command refused before it ran (unknown, wrong arity...).

    As in Redis, inside MULTI it dooms the transaction; a refused EXEC discards the
    transaction at once and says why.
    """
    if name == "exec":
        _end_transaction(session)
        reason = error.message[4:] if error.message.startswith("ERR ") else error.message
        return ReplyError(f"EXECABORT Transaction discarded because of: {reason}")
    if session.queued is not None:
        session.transaction_failed = True
    return error


def _end_transaction(session: Session) -> None:
    """Close the transaction (if any) and stop watching, as EXEC and DISCARD do."""
    session.queued = None
    session.transaction_failed = False
    if session.watch is not None:
        session.db.unwatch(session.watch)


#: An EXEC refused by cluster mode (a redirection) drops the transaction, as Redis does.
discard_transaction = _end_transaction


def _may_grow(queued: list[list[bytes]]) -> bool:
    """Whether any queued command may grow memory (Redis's ``denyoom`` flag)."""
    for args in queued:
        queued_command = COMMANDS.get(args[0].lower())
        if queued_command is not None and "denyoom" in queued_command.flags:
            return True
    return False


@command(
    "multi",
    1,
    "noscript loading stale fast allow_busy",
    group="transactions",
    summary="Start a transaction.",
)
def multi(session: Session, args: Args) -> Reply:
    if session.queued is not None:
        raise ReplyError("ERR MULTI calls can not be nested")
    session.queued = []
    return OK


@command(
    "exec",
    1,
    "noscript loading stale skip_slowlog",
    group="transactions",
    summary="Run the commands queued since MULTI.",
)
def exec_(session: Session, args: Args) -> Reply:
    queued = session.queued
    if queued is None:
        raise ReplyError("ERR EXEC without MULTI")
    if _may_grow(queued) and out_of_memory(session.server):
        # Redis refuses such an EXEC before it runs: the transaction is discarded.
        raise refuse(session, "exec", ReplyError(OOM_MESSAGE))
    failed = session.transaction_failed
    changed = session.watch is not None and session.db.watched_key_changed(session.watch)
    _end_transaction(session)
    if failed:
        raise ReplyError(EXEC_ABORTED)
    if changed:
        return NIL_ARRAY
    runner = session.server.runner
    if runner is None:
        raise RuntimeError("no dispatcher attached to the server state")
    execute = runner.execute
    session.in_exec = True
    try:
        return [execute(session, queued_args) for queued_args in queued]
    finally:
        session.in_exec = False


@command(
    "discard",
    1,
    "noscript loading stale fast allow_busy",
    group="transactions",
    summary="Drop the commands queued since MULTI.",
)
def discard(session: Session, args: Args) -> Reply:
    if session.queued is None:
        raise ReplyError("ERR DISCARD without MULTI")
    _end_transaction(session)
    return OK


@command(
    "watch",
    -2,
    "noscript loading stale fast allow_busy",
    group="transactions",
    summary="Make the next EXEC fail if any of these keys changes first.",
    keys=(1, -1, 1),
)
def watch(session: Session, args: Args) -> Reply:
    if session.queued is not None:
        raise ReplyError("ERR WATCH inside MULTI is not allowed")
    watched = session.watch
    if watched is None:
        watched = session.watch = Watch()
    db = session.db
    for key in args[1:]:
        db.watch(key, watched)
    return OK


@command(
    "unwatch",
    1,
    "noscript loading stale fast allow_busy",
    group="transactions",
    summary="Forget every watched key.",
)
def unwatch(session: Session, args: Args) -> Reply:
    if session.watch is not None:
        session.db.unwatch(session.watch)
    return OK
