"""``--maxmemory``: write commands pass through the memory guard before they run.

The guard is woven into a copy of the command table when the server starts with a limit, so a
server without one (and every read command) runs exactly the handlers it would otherwise: the
cost of the feature is zero where it is off. Keys evicted to make room are handed to the log
as deletions here, before the command runs, or a restart would revive them.
"""

from __future__ import annotations

import dataclasses

from kvstore.commands.context import ServerState, Session
from kvstore.commands.ports import Journal
from kvstore.commands.table import Args, Command, Handler
from kvstore.eviction import MemoryGuard
from kvstore.protocol.replies import Reply, ReplyError

OOM_MESSAGE = "OOM command not allowed when used memory > 'maxmemory'."


def make_room(guard: MemoryGuard, journal: Journal | None) -> bool:
    """Evict under the limit; False if still over it. The evicted keys go to ``journal``."""
    room = guard.make_room()
    if guard.evicted_any:
        guard.evicted_any = False
        for db in guard.keyspaces:
            if journal is not None:
                for key in db.evicted:
                    journal.record_deleted(key, db)
            db.evicted.clear()
    return room


def out_of_memory(state: ServerState) -> bool:
    """Whether a command that may grow memory would be refused now (never without a limit):
    Redis's test for queueing inside MULTI and for an EXEC with such commands queued."""
    guard = state.memory_guard
    return guard is not None and not make_room(guard, state.journal)


def _guarded(
    handler: Handler, guard: MemoryGuard, may_grow: bool, journal: Journal | None
) -> Handler:
    def run(session: Session, args: Args) -> Reply:
        if session.applies_stream:  # a replica applying its primary's writes: never refused
            return handler(session, args)
        # Without a journal given, the server's as it is now: replication gives a server
        # without persistence one once a replica needs the stream (evictions then reach it).
        if not make_room(guard, journal or session.server.journal) and may_grow:
            raise ReplyError(OOM_MESSAGE)
        return handler(session, args)

    return run


def guarded_table(
    table: dict[bytes, Command], guard: MemoryGuard, journal: Journal | None = None
) -> dict[bytes, Command]:
    """A copy of ``table`` whose write commands first make room under ``guard`` (the keys
    evicted go to ``journal`` as deletions, or by default to the server's journal of the
    moment); those flagged ``denyoom`` (they may grow memory)
    are refused with Redis's OOM error when no room can be made. Other writes (DEL, FLUSHDB)
    still run: they free memory."""
    guarded: dict[bytes, Command] = {}
    for name, command in table.items():
        if "write" in command.flags or "denyoom" in command.flags:
            handler = _guarded(command.handler, guard, "denyoom" in command.flags, journal)
            guarded[name] = dataclasses.replace(command, handler=handler)
        else:
            guarded[name] = command
    return guarded
