"""Client-side caching: ``CLIENT TRACKING``, ``CLIENT CACHING``, ``CLIENT GETREDIR``,
``CLIENT TRACKINGINFO`` and the invalidation messages, as Redis 7.0.

In the default mode the server remembers, per key, the clients that read it (at most
``tracking-table-max-keys`` keys; past that, keys are forgotten and their readers told, as
Redis does), and tells them once when it changes; in BCAST mode it tells every client whose
prefixes match any change. RESP3 clients get a push ``invalidate [keys]``; a client may
REDIRECT the messages to another connection, which in RESP2 receives them as messages of the
channel ``__redis__:invalidate`` it subscribed to. A change made by the tracking client itself
is told after the reply of the command (after EXEC's, in a transaction), as Redis 7.0 does.

Nothing here runs while no client tracks: turning tracking on has the dispatcher run reads,
writes, flushes and EXEC through the wrapper of :func:`wrap_table` (see the assembly).
"""

from __future__ import annotations

import dataclasses

from kvstore.commands.context import Session
from kvstore.commands.table import Args, Command, Handler, parse_int
from kvstore.commands.tracking_state import Tracker, TrackingState
from kvstore.protocol.replies import OK, Replies, Reply, ReplyError, SetReply


def wrap_table(tracker: Tracker, table: dict[bytes, Command]) -> dict[bytes, Command]:
    """``table`` with the reads, writes, flushes and EXEC wrapped to track keys and send
    invalidations (what the dispatcher runs while any client tracks)."""
    wrapped = dict(table)
    for name, command in table.items():
        if command.group == "pubsub":
            continue
        if command.name == "exec" or command.key_step or command.name in _FLUSHES:
            wrapped[name] = dataclasses.replace(command, handler=_wrap(tracker, command))
    return wrapped


def _wrap(tracker: Tracker, command: Command) -> Handler:
    handler = command.handler
    first, last, step = command.first_key, command.last_key, command.key_step
    write = command.write
    flush = command.name in _FLUSHES

    def tracking(session: Session, args: Args) -> Reply:
        outermost = tracker.running is None
        if outermost:
            tracker.running = session
        try:
            db = session.db
            dirty = db.dirty
            reply = handler(session, args)
            keys = args[first : len(args) if last < 0 else last + 1 : step] if step else []
            if flush:
                tracker.flushed()
            elif write:
                if db.dirty != dirty:
                    tracker.invalidate(keys, session)
            elif keys:
                tracker.remember(session, keys)
            if session.tracking is not None and outermost:
                session.tracking.caching = None
        finally:
            if outermost:
                tracker.running = None
        if outermost and tracker.pending:
            pending, tracker.pending = tracker.pending, []
            return Replies([reply, *pending])
        return reply

    return tracking


_FLUSHES = frozenset({"flushdb", "flushall"})


# -- the CLIENT subcommands -----------------------------------------------------------------------


def client_tracking(session: Session, args: Args) -> Reply:
    tracker = session.server.tracker
    mode = args[2].lower()
    if mode not in (b"on", b"off"):
        raise ReplyError("ERR syntax error")
    state = TrackingState()
    i = 3
    while i < len(args):
        option = args[i].lower()
        if option == b"redirect" and i + 1 < len(args):
            if state.redirect:
                raise ReplyError("ERR A client can only redirect to a single other client")
            state.redirect = parse_int(args[i + 1])
            if state.redirect not in session.server.sessions:
                raise ReplyError("ERR The client ID you want redirect to does not exist")
            i += 2
        elif option == b"bcast":
            state.bcast = True
            i += 1
        elif option == b"optin":
            state.optin = True
            i += 1
        elif option == b"optout":
            state.optout = True
            i += 1
        elif option == b"noloop":
            state.noloop = True
            i += 1
        elif option == b"prefix" and i + 1 < len(args):
            state.prefixes.append(args[i + 1])
            i += 2
        else:
            raise ReplyError("ERR syntax error")
    if mode == b"off":
        tracker.disable(session)
        return OK
    _check(session, state)
    current = session.tracking
    if current is not None:  # the options replace those in force, prefixes add up (Redis)
        state.prefixes = current.prefixes + [p for p in state.prefixes if p not in current.prefixes]
    tracker.enable(session, state)
    return OK


def _check(session: Session, state: TrackingState) -> None:
    if state.prefixes and not state.bcast:
        raise ReplyError("ERR PREFIX option requires BCAST mode to be enabled")
    current = session.tracking
    if current is not None and current.bcast != state.bcast:
        raise ReplyError(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, "
            "and then re-enabling it with a different mode."
        )
    if state.optin and state.optout:
        raise ReplyError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if current is not None and (
        (state.optin and current.optout) or (state.optout and current.optin)
    ):
        raise ReplyError(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, "
            "and then re-enabling it with a different mode."
        )
    if state.bcast and (state.optin or state.optout):
        raise ReplyError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    prefixes = state.prefixes + (current.prefixes if current is not None else [])
    for i, prefix in enumerate(state.prefixes):
        for other in prefixes[i + 1 :]:
            if prefix != other and (prefix.startswith(other) or other.startswith(prefix)):
                raise ReplyError(
                    f"ERR Prefix '{prefix.decode('utf-8', 'replace')}' overlaps with another "
                    f"provided prefix '{other.decode('utf-8', 'replace')}'. Prefixes for a "
                    "single client must not overlap."
                )


def client_caching(session: Session, args: Args) -> Reply:
    state = session.tracking
    if state is None or not (state.optin or state.optout):
        raise ReplyError(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with "
            "OPTIN or OPTOUT mode enabled"
        )
    answer = args[2].lower()
    if answer == b"yes" and state.optin:
        state.caching = True
    elif answer == b"no" and state.optout:
        state.caching = False
    elif answer in (b"yes", b"no"):
        mode = "OPTIN" if answer == b"yes" else "OPTOUT"
        raise ReplyError(
            f"ERR CLIENT CACHING {answer.decode().upper()} is only valid when tracking is "
            f"enabled in {mode} mode."
        )
    else:
        raise ReplyError("ERR syntax error")
    return OK


def client_getredir(session: Session, args: Args) -> Reply:
    state = session.tracking
    return -1 if state is None else state.redirect


def client_trackinginfo(session: Session, args: Args) -> Reply:
    state = session.tracking
    if state is None:
        return {b"flags": SetReply([b"off"]), b"redirect": -1, b"prefixes": []}
    flags: list[Reply] = [b"on"]
    for name, on in (
        (b"bcast", state.bcast),
        (b"optin", state.optin),
        (b"optout", state.optout),
        (b"caching-yes", state.caching is True),
        (b"caching-no", state.caching is False),
        (b"noloop", state.noloop),
    ):
        if on:
            flags.append(name)
    if state.redirect and state.redirect not in session.server.sessions:
        flags.append(b"broken_redirect")
    prefixes: list[Reply] = list(state.prefixes)
    return {b"flags": SetReply(flags), b"redirect": state.redirect, b"prefixes": prefixes}
