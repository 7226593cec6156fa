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

MIGRATE holds the keys it moves the same way (:meth:`ClientPause.hold_keys`), from the moment
it reads their values until the target has answered and they are deleted here: a request
that may write one of them waits (a write command, or one that may replicate, naming a held
key; or one whose keys cannot be told, such as FLUSHALL or a script without keys), and
every other request runs. So no write to a key in flight is lost, and the rest of the
server goes on.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.introspection import keys_of
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
    """Whether the request ``args`` from ``session`` must wait for the pause to end (or for
    the keys it writes to be released)."""
    if not pause.expire() and not pause.held_keys:
        return False
    command = COMMANDS.get(args[0].lower())
    if command is None or not arity_accepts(command.arity, len(args)):
        return False  # refused at once
    if not session.authenticated and not command.noauth:
        return False
    if pause.mode == "all":
        return True
    requests = (session.queued or ()) if command.name == "exec" else (args,)
    if pause.mode == "write" and any(_may_replicate(request) for request in requests):
        return True
    return bool(pause.held_keys) and any(_writes_held(pause, request) for request in requests)


def writes_held_keys(pause: ClientPause, session: Session, args: Args) -> bool:
    """Whether ``args`` waits for keys MIGRATE holds (a pause aside): the text protocol,
    which CLIENT PAUSE does not hold, asks this."""
    command = COMMANDS.get(args[0].lower())
    if command is None or not arity_accepts(command.arity, len(args)):
        return False
    requests = (session.queued or ()) if command.name == "exec" else (args,)
    return any(_writes_held(pause, request) for request in requests)


def _writes_held(pause: ClientPause, args: Args) -> bool:
    """Whether ``args`` may write a key MIGRATE holds (a write that names no key may write
    any)."""
    if not _may_replicate(args):
        return False
    keys = keys_of(args)
    held = pause.held_keys
    return not keys or any(key in held for key in keys)


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
