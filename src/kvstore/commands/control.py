"""SHUTDOWN, CONFIG SET and CONFIG RESETSTAT: commands that act on the running server.

The commands reach the server through a :class:`~kvstore.commands.ports.ServerControl`, given
to ``ServerState.control`` by the server's assembly (as persistence is given to
``ServerState.persistence``); without one (a bare dispatcher in tests) these commands are
refused.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.ports import ServerControl
from kvstore.commands.table import SYNTAX_ERROR, Args, command
from kvstore.config.runtime import SettingRefusedError, UnknownSettingError
from kvstore.protocol.replies import OK, Reply, ReplyError


def _control(session: Session) -> ServerControl:
    control = session.server.control
    if control is None:
        raise ReplyError("ERR this server cannot be controlled by commands")
    return control


@command(
    "shutdown",
    -1,
    "admin noscript loading stale no_multi allow_busy",
    group="server",
    summary="Stop the server gracefully (snapshot unless NOSAVE).",
)
def shutdown(session: Session, args: Args) -> Reply:
    save: bool | None = None
    for arg in args[1:]:
        option = arg.lower()
        if option in (b"save", b"nosave") and save is None:
            save = option == b"save"
        elif option == b"abort":
            raise ReplyError("ERR No shutdown in progress.")
        elif option not in (b"now", b"force"):  # no replicas to wait for, nothing to force
            raise ReplyError(SYNTAX_ERROR)
    control = _control(session)
    if save and session.server.persistence is None:
        # Redis refuses to exit when the save it was asked for cannot be made.
        raise ReplyError(
            "ERR Errors trying to SHUTDOWN: SAVE asked for, but persistence is off "
            "(--no-persist); use SHUTDOWN NOSAVE"
        )
    control.shutdown(save)
    # Redis closes the connection without a reply: clients take the close as success.
    session.close_after_reply = True
    session.reply_suppressed = True
    return OK


def config_set(session: Session, args: Args) -> Reply:
    if len(args) % 2:
        raise ReplyError("ERR wrong number of arguments for 'config|set' command")
    pairs = [
        (args[i].decode("utf-8", "replace").lower(), args[i + 1].decode("utf-8", "replace"))
        for i in range(2, len(args), 2)
    ]
    try:
        _control(session).config_set(pairs)
    except UnknownSettingError as exc:
        raise ReplyError(
            f"ERR Unknown option or number of arguments for CONFIG SET - '{exc}'"
        ) from None
    except SettingRefusedError as exc:
        raise ReplyError(
            f"ERR CONFIG SET failed (possibly related to argument '{exc.name}') - {exc.reason}"
        ) from None
    return OK
