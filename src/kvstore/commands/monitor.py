"""MONITOR: every command the server runs, as it runs it, sent to the monitoring clients."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import Args, command
from kvstore.protocol.replies import OK, Reply


@command(
    "monitor",
    1,
    "admin noscript loading stale",
    group="server",
    summary="Listen for every command the server runs.",
)
def monitor(session: Session, args: Args) -> Reply:
    state = session.server
    if session not in state.monitors:
        state.monitors.append(session)
        if state.monitors_changed is not None:
            state.monitors_changed(state.monitors)
    return OK
