"""RESET: return the connection to the state it had when it connected, as Redis 7.0 does.

The open transaction (if any) is dropped, watched keys are forgotten, the protocol goes back to
RESP2, database 0 is selected, the connection's name is cleared, CLIENT NO-EVICT is off and,
when the server requires a password, the connection must authenticate again; its subscriptions,
CLIENT TRACKING and MONITOR end. RESET runs at once inside MULTI (it is not queued) and needs no
authentication. The reply is the status ``RESET``.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import Args, command
from kvstore.protocol.replies import Reply, Status

RESET = Status("RESET")


@command(
    "reset",
    1,
    "noscript loading stale fast noauth allow_busy",
    group="connection",
    summary="Reset the connection: no transaction, no watched keys, RESP2, database 0, no name.",
)
def reset(session: Session, args: Args) -> Reply:
    session.queued = None
    session.transaction_failed = False
    if session.watch is not None:
        session.db.unwatch(session.watch)
    if session.subscriptions is not None:  # left silently, as Redis
        session.subscriptions.drop(session.server.pubsub, session)
        session.subscriptions = None
    if session.tracking is not None:
        session.server.tracker.disable(session)
    session.stop_monitoring()  # before the dispatcher feeds monitors this very RESET
    session.protocol = 2
    session.db = session.server.dbs[0]
    session.no_evict = False
    session.name = b""
    session.authenticated = session.server.requirepass is None
    return RESET
