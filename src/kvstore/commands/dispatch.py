"""Running one request through the command table: look-up, arity, the handler, counters.

Both wire protocols call :meth:`Dispatcher.execute`; it never raises for anything a client can
send, so a bad request costs its sender an error reply and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter_ns

from kvstore.commands.context import Session
from kvstore.commands.ports import Journal
from kvstore.commands.pubsub import SUBSCRIBED_CONTEXT, subscribed_context_error
from kvstore.commands.stats import DEFAULT_MAX_LEN, DEFAULT_SLOWER_THAN_US, CommandStats
from kvstore.commands.table import (
    COMMANDS,
    Args,
    Command,
    UnknownCommandError,
    subcommand_refusal,
    wrong_arity,
)
from kvstore.commands.transactions import RUN_IN_MULTI, refuse
from kvstore.protocol.replies import QUEUED, Reply, ReplyError

NOAUTH = ReplyError("NOAUTH Authentication required.")
NOT_IN_MULTI = ReplyError("ERR Command not allowed inside a transaction")

log = logging.getLogger("kvstore.commands")


class Dispatcher:
    """Runs requests through ``table`` (the command table by default), counting into
    ``stats`` and recording writes in ``journal`` (None: persistence off).

    Built once, with everything it needs; only :meth:`configure_slowlog` changes it later
    (CONFIG SET).
    """

    def __init__(
        self,
        table: dict[bytes, Command] | None = None,
        *,
        stats: CommandStats | None = None,
        journal: Journal | None = None,
        slowlog_log_slower_than: int = DEFAULT_SLOWER_THAN_US,
        slowlog_max_len: int = DEFAULT_MAX_LEN,
    ) -> None:
        self.table = COMMANDS if table is None else table
        #: The table under the names clients usually send, lower and upper case, so most
        #: look-ups skip ``lower()``; any other spelling falls back to ``table``.
        self._by_name = {**{name.upper(): cmd for name, cmd in self.table.items()}, **self.table}
        #: The table requests run from: ``table``, or its commands wrapped to publish keyspace
        #: notifications or track keys while those are on (see :meth:`run_wrapped`).
        self._running = self.table
        self.stats = CommandStats() if stats is None else stats
        for command in self.table.values():
            self.stats.track(command.name)
        #: The append-only log (None with persistence off): see :mod:`kvstore.commands.ports`.
        self.journal = journal
        # The counters touched on the success path, held here so each costs one attribute
        # read (the very dicts of ``stats``: CONFIG RESETSTAT zeroes them in place).
        self.calls = self.stats.calls
        self.run_ns = self.stats.run_ns
        self.slowlog = self.stats.slowlog
        #: Whether commands are timed: off only with the slow log off (see configure_slowlog).
        self.timing = True
        self.slow_ns = self.slowlog.threshold_ns  # read per command: one attribute, not two
        self.configure_slowlog(slowlog_log_slower_than, slowlog_max_len)

    def configure_slowlog(
        self, slower_than_us: int | None = None, max_len: int | None = None
    ) -> None:
        """Set the slow log's threshold (microseconds; 0: every command; negative: off) and
        length, at start-up or at run time (CONFIG SET). With the log off, commands are not
        timed at all (INFO commandstats then shows no time): two clock reads fewer each."""
        self.slowlog.configure(slower_than_us, max_len)
        self.slow_ns = self.slowlog.threshold_ns
        if slower_than_us is not None:
            self.timing = slower_than_us >= 0

    def run_wrapped(
        self, wrap: Callable[[dict[bytes, Command]], dict[bytes, Command]] | None
    ) -> None:
        """Run commands from ``wrap(table)`` (keyspace notifications or client tracking on),
        or from the plain table (None): no command pays for them while they are off."""
        table = self.table if wrap is None else wrap(self.table)
        self._running = table
        self._by_name = {**{name.upper(): cmd for name, cmd in table.items()}, **table}

    def _rejected(self, command: Command | None, error: ReplyError) -> ReplyError:
        stats = self.stats
        stats.errors += 1
        stats.error_codes[error.code] += 1
        if command is not None:
            stats.rejected[command.name] += 1
        return error

    def _failed(self, command: Command, error: ReplyError) -> ReplyError:
        stats = self.stats
        stats.errors += 1
        stats.error_codes[error.code] += 1
        stats.failed[command.name] += 1
        return error

    def execute(self, session: Session, args: Args) -> Reply:
        command = self._by_name.get(args[0])
        if command is None:
            command = self._running.get(args[0].lower())
            if command is None:
                return self._rejected(None, refuse(session, "", UnknownCommandError(args)))
            self.stats.track(command.name)  # registered after this dispatcher was made
        name = command.name
        arity = command.arity
        if (len(args) != arity) if arity >= 0 else (len(args) < -arity):  # arity_accepts, inlined
            return self._rejected(command, refuse(session, name, wrong_arity(name)))
        if not session.authenticated and not command.noauth:
            if session.subscriptions is None:
                return self._rejected(command, NOAUTH)
            if name not in SUBSCRIBED_CONTEXT:  # a RESP2 connection in subscribed state
                return self._rejected(command, subscribed_context_error(name))
        # Inside MULTI, commands wait for EXEC, which runs each back through here. Checks that
        # refuse a command while queueing belong above (and call ``refuse``); what follows sees
        # each queued command once, when EXEC runs it.
        if session.queued is not None and name not in RUN_IN_MULTI:
            return self._queue(session, command, args)
        self.calls[name] += 1
        session.last_command = name
        journal = self.journal
        # Timing a command costs two clock reads and one counter update (about a seventh of a
        # pipelined GET's path); the slow log one comparison unless the command was slow.
        started = perf_counter_ns() if self.timing else 0
        try:
            if journal is not None and command.write:
                if journal.refusal is not None:
                    return self._failed(command, journal.refusal)  # counted in calls
                try:
                    return command.handler(session, args)
                finally:
                    journal.record(command, args)
            return command.handler(session, args)
        except ReplyError as error:
            return self._failed(command, error)
        except Exception:
            # A bug in a handler must cost one error reply, not the connection or the server.
            log.exception("command %s failed", name)
            return self._failed(command, ReplyError(f"ERR internal error while running '{name}'"))
        finally:
            if started:
                elapsed = perf_counter_ns() - started
                self.run_ns[name] += elapsed
                if elapsed >= self.slow_ns:
                    self.slowlog.record(args, elapsed, session.addr, session.name)

    def _queue(self, session: Session, command: Command, args: Args) -> Reply:
        """Queue a command inside MULTI, or refuse it (and doom the transaction)."""
        if "no_multi" in command.flags:  # SHUTDOWN: as Redis, refused and dooms the EXEC
            self.stats.errors += 1
            return refuse(session, command.name, NOT_IN_MULTI)
        refusal = subcommand_refusal(args)  # an unknown subcommand is refused at once
        if refusal is not None:
            self.stats.errors += 1
            return refuse(session, command.name, refusal)
        assert session.queued is not None
        session.queued.append(args)
        return QUEUED
