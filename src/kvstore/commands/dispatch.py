"""Running one request through the command table: look-up, arity, the handler, counters.

Both wire protocols call :meth:`Dispatcher.execute`; it never raises for anything a client can
send, so a bad request costs its sender an error reply and nothing else.
"""

from __future__ import annotations

import logging
from collections import Counter

from kvstore.commands.context import Session
from kvstore.commands.table import COMMANDS, Args, Command, UnknownCommandError, wrong_arity
from kvstore.protocol.replies import Reply, ReplyError

NOAUTH = ReplyError("NOAUTH Authentication required.")

log = logging.getLogger("kvstore.commands")


class Dispatcher:
    def __init__(self, table: dict[bytes, Command] | None = None) -> None:
        self.table = COMMANDS if table is None else table
        self.calls: Counter[str] = Counter()
        self.errors = 0

    def execute(self, session: Session, args: Args) -> Reply:
        command = self.table.get(args[0].lower())
        if command is None:
            self.errors += 1
            return UnknownCommandError(args)
        arity = command.arity
        if (len(args) != arity) if arity >= 0 else (len(args) < -arity):  # arity_accepts, inlined
            self.errors += 1
            return wrong_arity(command.name)
        if not session.authenticated and not command.noauth:
            self.errors += 1
            return NOAUTH
        self.calls[command.name] += 1
        session.last_command = command.name
        try:
            return command.handler(session, args)
        except ReplyError as error:
            self.errors += 1
            return error
        except Exception:
            # A bug in a handler must cost one error reply, not the connection or the server.
            log.exception("command %s failed", command.name)
            self.errors += 1
            return ReplyError(f"ERR internal error while running '{command.name}'")
