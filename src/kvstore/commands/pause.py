"""CLIENT PAUSE and CLIENT UNPAUSE: the pause's state, and which requests it holds.

A paused request is held before it starts, never in the middle: the server's connections ask
:func:`holds` about each request while a pause is on, keep the held one and those
after it (reading nothing more from that client), and run them when the pause ends (see
:mod:`kvstore.server.paused`). As in Redis 7.0, ``ALL`` holds every command, ``WRITE`` the
commands that may change data or reach other clients: writes, PUBLISH, SPUBLISH, PFCOUNT,
EVAL, EVALSHA, FCALL, and an EXEC whose transaction has one. A request refused before running
(unknown command, wrong arity, NOAUTH) is answered at once. While a pause is on, keys are not
expired: an expired key reads as missing but is kept until the pause ends, and the active
expiry cycle does not run.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.pause_state import ClientPause
from kvstore.commands.table import (
    COMMANDS,
    Args,
    arity_accepts,
    parse_int,
    subcommand_syntax_error,
)
from kvstore.protocol.replies import OK, Reply, ReplyError

#: Commands WRITE holds besides those flagged ``write``: Redis's ``may-replicate`` ones.
MAY_REPLICATE = frozenset({"publish", "spublish", "pfcount", "eval", "evalsha", "fcall"})
MODES = ("write", "all")


def holds(pause: ClientPause, session: Session, args: Args) -> bool:
    """Whether the request ``args`` from ``session`` must wait for the pause to end."""
    if not pause.expire():
        return False
    command = COMMANDS.get(args[0].lower())
    if command is None or not arity_accepts(command.arity, len(args)):
        return False  # refused at once
    if not session.authenticated and not command.noauth:
        return False
    if pause.mode == "all":
        return True
    if command.name == "exec":
        return any(_may_replicate(queued) for queued in session.queued or ())
    return _may_replicate(args)


def _may_replicate(args: Args) -> bool:
    command = COMMANDS.get(args[0].lower())
    return command is not None and (command.write or command.name in MAY_REPLICATE)


def client_pause(session: Session, args: Args) -> Reply:
    """CLIENT PAUSE timeout [WRITE|ALL]: milliseconds, checked as Redis checks them."""
    if len(args) > 4:
        raise subcommand_syntax_error(args)
    mode = "all"
    if len(args) == 4:
        mode = args[3].decode("utf-8", "replace").lower()
        if mode not in MODES:
            raise ReplyError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    timeout = parse_int(args[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise ReplyError("ERR timeout is negative")
    pause = session.server.pause
    pause.pause(mode, pause.now() + timeout if timeout else 0)
    return OK


def client_unpause(session: Session, args: Args) -> Reply:
    session.server.pause.unpause()
    return OK
