"""Running one request through the command table: look-up, arity, the handler, counters.

Both wire protocols call :meth:`Dispatcher.execute`; it never raises for anything a client can
send, so a bad request costs its sender an error reply and nothing else.
"""

from __future__ import annotations

import logging
import time

from kvstore.commands.context import Session
from kvstore.commands.journal import Journal
from kvstore.commands.stats import OpsMeter
from kvstore.commands.table import COMMANDS, Args, Command, UnknownCommandError, wrong_arity
from kvstore.commands.transactions import RUN_IN_MULTI, refuse
from kvstore.protocol.replies import QUEUED, Reply, ReplyError

NOAUTH = ReplyError("NOAUTH Authentication required.")

log = logging.getLogger("kvstore.commands")


class Dispatcher:
    def __init__(self, table: dict[bytes, Command] | None = None) -> None:
        self.table = COMMANDS if table is None else table
        #: The table under the names clients usually send, lower and upper case, so most
        #: look-ups skip ``lower()``; any other spelling falls back to ``table``.
        self._by_name = {**{name.upper(): cmd for name, cmd in self.table.items()}, **self.table}
        #: Calls per command name. A plain dict with every name present, as ``+= 1`` on a
        #: Counter (a dict subclass) costs three times as much.
        self.calls: dict[str, int] = dict.fromkeys([cmd.name for cmd in self.table.values()], 0)
        self.errors = 0
        self.ops = OpsMeter()
        #: The append-only log (None with persistence off): see :mod:`kvstore.commands.journal`.
        self.journal: Journal | None = None

    @property
    def total_calls(self) -> int:
        """Commands run (a queued command counts when EXEC runs it)."""
        return sum(self.calls.values())

    def sample_ops(self) -> None:
        """Sample the command rate for INFO; the server calls this every 100 ms."""
        self.ops.sample(time.monotonic_ns() // 1_000_000, self.total_calls)

    def execute(self, session: Session, args: Args) -> Reply:
        command = self._by_name.get(args[0])
        if command is None:
            command = self.table.get(args[0].lower())
            if command is None:
                self.errors += 1
                return refuse(session, "", UnknownCommandError(args))
            self.calls.setdefault(command.name, 0)  # registered after this dispatcher was made
        arity = command.arity
        if (len(args) != arity) if arity >= 0 else (len(args) < -arity):  # arity_accepts, inlined
            self.errors += 1
            return refuse(session, command.name, wrong_arity(command.name))
        if not session.authenticated and not command.noauth:
            self.errors += 1
            return NOAUTH
        # Inside MULTI, commands wait for EXEC, which runs each back through here. Checks that
        # refuse a command while queueing belong above (and call ``refuse``); what follows sees
        # each queued command once, when EXEC runs it.
        if session.queued is not None and command.name not in RUN_IN_MULTI:
            session.queued.append(args)
            return QUEUED
        self.calls[command.name] += 1
        session.last_command = command.name
        journal = self.journal
        try:
            if journal is not None and command.write:
                if journal.refusal is not None:
                    self.errors += 1
                    return journal.refusal
                try:
                    return command.handler(session, args)
                finally:
                    journal.record(command, args)
            return command.handler(session, args)
        except ReplyError as error:
            self.errors += 1
            return error
        except Exception:
            # A bug in a handler must cost one error reply, not the connection or the server.
            log.exception("command %s failed", command.name)
            self.errors += 1
            return ReplyError(f"ERR internal error while running '{command.name}'")
