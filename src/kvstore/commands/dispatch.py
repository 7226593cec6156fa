"""Running one request through the command table: look-up, arity, the handler, counters.

Both wire protocols call :meth:`Dispatcher.execute`; it never raises for anything a client can
send, so a bad request costs its sender an error reply and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from time import perf_counter_ns

from kvstore.commands.context import Session
from kvstore.commands.memory import OOM_MESSAGE, out_of_memory
from kvstore.commands.ports import Journal
from kvstore.commands.pubsub import SUBSCRIBED_CONTEXT, subscribed_context_error
from kvstore.commands.stats import DEFAULT_MAX_LEN, DEFAULT_SLOWER_THAN_US, CommandStats
from kvstore.commands.table import (
    COMMANDS,
    Args,
    Command,
    UnknownCommandError,
    arity_accepts,
    subcommand_refusal,
    wrong_arity,
)
from kvstore.commands.transactions import RUN_IN_MULTI, refuse
from kvstore.protocol.replies import QUEUED, Reply, ReplyError

NOAUTH = ReplyError("NOAUTH Authentication required.")
NOT_IN_MULTI = ReplyError("ERR Command not allowed inside a transaction")
OOM = ReplyError(OOM_MESSAGE)

log = logging.getLogger("kvstore.commands")


def _shown(arg: bytes) -> str:
    """An argument as MONITOR quotes it (Redis's sdscatrepr)."""
    out = ['"']
    for byte in arg:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x07: "\\a", 0x08: "\\b"}


#: Subcommands Redis 7.0 flags ``admin`` under commands that are not (None: every one).
_ADMIN_SUBCOMMANDS: dict[str, frozenset[bytes] | None] = {
    "config": None,
    "client": frozenset({b"kill", b"list", b"no-evict", b"pause", b"unpause"}),
}


def _administrative(name: str, args: Args) -> bool:
    if name not in _ADMIN_SUBCOMMANDS:
        return False
    subcommands = _ADMIN_SUBCOMMANDS[name]
    return subcommands is None or (len(args) > 1 and args[1].lower() in subcommands)


_REDACTED = b"(redacted)"


def _redacted(args: Args) -> Args:
    """The arguments with passwords hidden, as Redis hides them from MONITOR: AUTH's, and
    HELLO's after its AUTH option."""
    name = args[0].lower()
    if name == b"auth":
        return [args[0], *(_REDACTED for _ in args[1:])]
    if name == b"hello":
        shown = list(args)
        for index, word in enumerate(args):
            if index > 1 and word.lower() == b"auth":
                for secret in range(index + 1, min(index + 3, len(args))):
                    shown[secret] = _REDACTED
        return shown
    return args


def monitor_line(session: Session, args: Args) -> bytes:
    """``+<unix time> [<db> <addr>] "arg" ...``, as Redis sends each command to MONITOR."""
    now = time.time()
    words = " ".join(_shown(arg) for arg in _redacted(args))
    return f"+{now:.6f} [{session.db.index} {session.addr}] {words}\r\n".encode()


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
        #: Whether commands are timed: off only with the slow log, the latency monitor and
        #: latency tracking all off (see configure_slowlog).
        self.timing = True
        #: Each command's run times (``latency-tracking``; the very dict of ``stats``).
        self.histograms = self.stats.histograms
        self.tracking_latency = self.stats.latency_tracking
        #: A command at least this slow (ns) goes to the slow log or the latency monitor.
        self.slow_ns = self.slowlog.threshold_ns  # read per command: one attribute, not two
        self.configure_slowlog(slowlog_log_slower_than, slowlog_max_len)
        self._monitors: list[Session] = []

    def configure_slowlog(
        self, slower_than_us: int | None = None, max_len: int | None = None
    ) -> None:
        """Set the slow log's threshold (microseconds; 0: every command; negative: off) and
        length, at start-up or at run time (CONFIG SET), and follow the latency settings of
        ``stats`` (``latency-monitor-threshold``, ``latency-tracking``). With all three off,
        commands are not timed at all (INFO commandstats then shows no time): two clock reads
        fewer each."""
        self.slowlog.configure(slower_than_us, max_len)
        stats = self.stats
        monitor_ns = stats.latency.threshold_ms * 1_000_000 or self.slowlog.threshold_ns
        self.slow_ns = min(self.slowlog.threshold_ns, monitor_ns)
        self.tracking_latency = stats.latency_tracking
        self.timing = self.slowlog.slower_than_us >= 0 or monitor_ns < self.slowlog.threshold_ns
        self.timing = self.timing or self.tracking_latency

    def run_wrapped(
        self, wrap: Callable[[dict[bytes, Command]], dict[bytes, Command]] | None
    ) -> None:
        """Run commands from ``wrap(table)`` (keyspace notifications or client tracking on),
        or from the plain table (None): no command pays for them while they are off."""
        table = self.table if wrap is None else wrap(self.table)
        self._running = table
        self._by_name = {**{name.upper(): cmd for name, cmd in table.items()}, **table}

    # -- MONITOR -------------------------------------------------------------------------------

    def monitors_changed(self, monitors: list[Session]) -> None:
        """Clients entered or left MONITOR mode: with any in it, requests go through
        :meth:`_execute_monitored`; with none, the plain path costs nothing more than before."""
        self._monitors = monitors
        if monitors:
            self.execute = self._execute_monitored  # type: ignore[method-assign]
        elif "execute" in vars(self):  # vars(): Cython refuses self.__dict__ in its build
            del self.execute

    def _execute_monitored(self, session: Session, args: Args) -> Reply:
        reply = Dispatcher.execute(self, session, args)
        # As Redis 7.0 shows them: commands that ran (after they ran, in the database they
        # left selected), not those refused before running or queued in MULTI, nor
        # administrative ones (CONFIG, SAVE, SHUTDOWN, MONITOR...).
        command = self._by_name.get(args[0]) or self.table.get(args[0].lower())
        if (
            command is None
            or "admin" in command.flags
            or _administrative(command.name, args)
            or not session.authenticated
            or reply is QUEUED
            or not arity_accepts(command.arity, len(args))
        ):
            return reply
        line = monitor_line(session, args)
        for monitor in self._monitors:
            if monitor.peer is not None:
                monitor.peer.push(line)
        return reply

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
                return self._rejected(command, subscribed_context_error(name, args))
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
                    journal.record(command, args, session.db)
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
                if self.tracking_latency:
                    self.histograms[name][elapsed.bit_length()] += 1
                if elapsed >= self.slow_ns:
                    self._slow(command, args, elapsed, session)

    def _slow(self, command: Command, args: Args, elapsed: int, session: Session) -> None:
        """A command at least as slow as one threshold: to the slow log, the latency monitor
        (``command`` or ``fast-command``, in milliseconds, as Redis), or both."""
        slowlog = self.slowlog
        if elapsed >= slowlog.threshold_ns:
            slowlog.record(args, elapsed, session.addr, session.name)
        event = "fast-command" if "fast" in command.flags else "command"
        self.stats.latency.add_if_needed(event, elapsed // 1_000_000)

    def _queue(self, session: Session, command: Command, args: Args) -> Reply:
        """Queue a command inside MULTI, or refuse it (and doom the transaction)."""
        if "no_multi" in command.flags:  # SHUTDOWN: as Redis, refused and dooms the EXEC
            self.stats.errors += 1
            return refuse(session, command.name, NOT_IN_MULTI)
        refusal = subcommand_refusal(args)  # an unknown subcommand is refused at once
        if refusal is not None:
            self.stats.errors += 1
            return refuse(session, command.name, refusal)
        if out_of_memory(session.server):  # as Redis: over the limit, nothing more is queued
            return self._rejected(command, refuse(session, command.name, OOM))
        assert session.queued is not None
        session.queued.append(args)
        return QUEUED
