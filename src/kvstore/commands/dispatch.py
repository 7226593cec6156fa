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
from kvstore.commands.ports import ClusterView, Journal
from kvstore.commands.pubsub import SUBSCRIBED_CONTEXT, subscribed_context_error
from kvstore.commands.stats import DEFAULT_MAX_LEN, DEFAULT_SLOWER_THAN_US, NEVER, CommandStats
from kvstore.commands.table import (
    COMMANDS,
    Args,
    Command,
    UnknownCommandError,
    arity_accepts,
    subcommand_refusal,
    wrong_arity,
)
from kvstore.commands.transactions import RUN_IN_MULTI, discard_transaction, refuse
from kvstore.protocol import encode_into
from kvstore.protocol.replies import QUEUED, Reply, ReplyError
from kvstore.slots import key_slot

NOAUTH = ReplyError("NOAUTH Authentication required.")
NOT_IN_MULTI = ReplyError("ERR Command not allowed inside a transaction")
OOM = ReplyError(OOM_MESSAGE)

log = logging.getLogger("kvstore.commands")

#: Cluster mode's check of a request: the error that refuses it, or None (see guard_with).
Guard = Callable[[Session, Command, Args], "ReplyError | None"]

#: Whether this module is the compiled twin (``kvstore._speedups.dispatch``).
_COMPILED = __name__.startswith("kvstore._speedups.")


def _histogram_bucket(elapsed: int) -> int:
    """A duration's latency-histogram bucket: ``elapsed.bit_length()``. The compiled build,
    where ``elapsed`` is a C integer, counts its bits in a loop of a few C instructions rather
    than making a Python int to call the method on (several hundred instructions a command)."""
    if not _COMPILED:
        return elapsed.bit_length()
    magnitude = elapsed if elapsed >= 0 else -elapsed
    bits = 0
    while magnitude:
        magnitude >>= 1
        bits += 1
    return bits


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


class Tally:
    """One command's counters for INFO commandstats and errorstats: calls, time (nanoseconds),
    calls refused before running and calls that answered an error. Compiled, each is a C
    field (``stats.tallies`` holds them by name: INFO reads them there)."""

    def __init__(self, histogram: list[int]) -> None:
        self.calls = 0
        self.run_ns = 0
        self.rejected = 0
        self.failed = 0
        #: Its latency histogram: the very list ``stats.histograms`` holds under its name.
        self.histogram = histogram


class Entry:
    """A command as the dispatcher runs it: what it reads of the :class:`Command` on every
    request, copied into fields (C fields, compiled: a dataclass's attribute costs a generic
    look-up there), and the command's :class:`Tally`. The log reads the key positions from it
    too (it is a :class:`~kvstore.commands.ports.LoggedCommand`)."""

    def __init__(self, command: Command, tally: Tally) -> None:
        self.command = command
        self.name = command.name
        self.arity = command.arity
        self.noauth = command.noauth
        self.write = command.write
        self.handler = command.handler
        self.first_key = command.first_key
        self.last_key = command.last_key
        self.key_step = command.key_step
        specs = command.key_specs
        #: Whether the command's one key is its first argument and it has no other: cluster
        #: mode then decides from that key's slot alone (see Dispatcher._run_detour).
        self.single_key = len(specs) == 1 and specs[0].begin == 1 and specs[0].last == 0
        self.tally = tally


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
        clock: Callable[[], int] = perf_counter_ns,
    ) -> None:
        self.table = COMMANDS if table is None else table
        self.stats = CommandStats() if stats is None else stats
        #: The table requests run from: ``table``, or its commands wrapped to publish keyspace
        #: notifications or track keys while those are on (see :meth:`run_wrapped`).
        self._running = self.table
        #: The running table's entries under the names clients usually send, lower and upper
        #: case, so most look-ups skip ``lower()`` (see :meth:`_look_up`).
        self._by_name: dict[bytes, Entry] = {}
        self._bind(self.table)
        #: The append-only log (None with persistence off): see :mod:`kvstore.commands.ports`.
        self.journal = journal
        self.slowlog = self.stats.slowlog
        #: Whether commands are timed: off only with the slow log, the latency monitor and
        #: latency tracking all off (see configure_slowlog).
        self.timing = True
        #: Whether each command's time goes to its latency histogram (``latency-tracking``).
        self.tracking_latency = self.stats.latency_tracking
        #: Commands are timed with this clock (nanoseconds), read once at the end of each
        #: request and once when a batch starts: a command's time runs from the reading before
        #: it (``clock_ns``) to the one at its end (see :meth:`start_clock`).
        self.clock = clock
        self.clock_ns = clock()
        #: A command at least this slow (ns) goes to the slow log or the latency monitor.
        self.slow_ns = NEVER
        self.configure_slowlog(slowlog_log_slower_than, slowlog_max_len)
        self._monitors: list[Session] = []
        #: Cluster mode's check of each request (None: not in cluster mode), and whether the
        #: commands EXEC runs are being run (checked together when EXEC was).
        self._guard: Guard | None = None
        #: The topology the guard reads, for the common case decided here (see guard_with).
        self._cluster_view: ClusterView | None = None
        self._in_exec = False
        #: Whether requests take the detour of :meth:`_run_detour` (MONITOR or cluster mode):
        #: one test per request, the plain path's only cost of either.
        self._detour = False

    def _tally(self, name: str) -> Tally:
        """The counters of command ``name``, kept in ``stats`` (made there on first use)."""
        tallies = self.stats.tallies
        tally = tallies.get(name)
        if type(tally) is not Tally:  # none yet (or the other build's: its figures carried)
            fresh = Tally(self.stats.histogram(name))
            if tally is not None:
                fresh.calls, fresh.run_ns = tally.calls, tally.run_ns
                fresh.rejected, fresh.failed = tally.rejected, tally.failed
            tallies[name] = tally = fresh
        return tally

    def _bind(self, table: dict[bytes, Command]) -> None:
        entries = {name: Entry(cmd, self._tally(cmd.name)) for name, cmd in table.items()}
        self._by_name = {**{name.upper(): entry for name, entry in entries.items()}, **entries}

    def _look_up(self, name: bytes) -> Entry | None:
        """The entry of a name in another spelling (``Get``), or of a command added to the
        table after this dispatcher was made (kept for the next time); None if unknown."""
        lowered = name.lower()
        entry = self._by_name.get(lowered)
        if entry is None:
            command = self._running.get(lowered)
            if command is None:
                return None
            entry = self._by_name[lowered] = Entry(command, self._tally(command.name))
        return entry

    def configure_slowlog(
        self, slower_than_us: int | None = None, max_len: int | None = None
    ) -> None:
        """Set the slow log's threshold (microseconds; 0: every command; negative: off) and
        length, at start-up or at run time (CONFIG SET), and follow the latency settings of
        ``stats`` (``latency-monitor-threshold``, ``latency-tracking``). With all three off,
        commands are not timed at all (INFO commandstats then shows no time): no clock
        readings."""
        self.slowlog.configure(slower_than_us, max_len)
        stats = self.stats
        monitor_ns = stats.latency.threshold_ms * 1_000_000 or self.slowlog.threshold_ns
        self.slow_ns = min(self.slowlog.threshold_ns, monitor_ns, NEVER)  # past NEVER: never
        self.tracking_latency = stats.latency_tracking
        timing = self.slowlog.slower_than_us >= 0 or monitor_ns < self.slowlog.threshold_ns
        self.timing = timing or self.tracking_latency
        self.start_clock()  # timing (again): not from a reading made before it stopped

    def start_clock(self) -> None:
        """Read the clock: the next command run with :meth:`execute_next` is timed from now.

        A connection calls this once for each read, before running the requests it brought
        one after the other; each command's time then runs from the reading before it to the
        one at its end, which is the next one's start: N + 1 readings for N requests, and every
        nanosecond of the batch counted once. So a command's time covers what was done since
        the previous request's end reading (that request's counters, its reply's encoding),
        this request's look-up and checks, its handler and its log record; a request refused
        before running, or queued by MULTI, reads the clock too, and is counted nowhere."""
        if self.timing:
            self.clock_ns = self.clock()

    def run_wrapped(
        self, wrap: Callable[[dict[bytes, Command]], dict[bytes, Command]] | None
    ) -> None:
        """Run commands from ``wrap(table)`` (keyspace notifications or client tracking on),
        or from the plain table (None): no command pays for them while they are off."""
        table = self.table if wrap is None else wrap(self.table)
        self._running = table
        self._bind(table)

    # -- MONITOR -------------------------------------------------------------------------------

    def monitors_changed(self, monitors: list[Session]) -> None:
        """Clients entered or left MONITOR mode: with any in it, each command that ran is shown
        to them (:meth:`_run_monitored`); with none, that costs one test of a flag."""
        self._monitors = monitors
        self._detour = bool(monitors) or self._guard is not None

    # -- cluster mode --------------------------------------------------------------------------

    def guard_with(self, guard: Guard | None, view: ClusterView | None = None) -> None:
        """Cluster mode: check every request with ``guard`` before it runs (see
        :mod:`kvstore.commands.cluster_guard`); None: no check, and no cost. With ``view``, the
        topology ``guard`` reads, a single-key request in a slot this node serves as primary
        (``view.served_here``) runs at once: the guard would let it through."""
        self._guard = guard
        self._cluster_view = view
        self._detour = bool(self._monitors) or guard is not None

    def _run_detour(self, session: Session, args: Args) -> Reply:
        """A request in cluster mode or while a client MONITORs: the cluster's check first
        (after the unknown-command, arity and authentication errors, as in Redis), then the
        command, shown to the monitors."""
        guard = self._guard
        if guard is None or self._in_exec:
            return (
                self._run_monitored(session, args) if self._monitors else self._run(session, args)
            )
        entry = self._by_name.get(args[0])
        view = self._cluster_view
        if (
            view is not None
            and entry is not None
            and entry.single_key
            and len(args) > 1
            and not self._monitors
            and not session.asking
            and view.served_here[key_slot(args[1])]
            and (not entry.write or view.writable)
        ):
            return self._run(session, args)  # the common case: served here, as the guard says
        if entry is None:
            entry = self._look_up(args[0])
        if (
            entry is None
            or not arity_accepts(entry.arity, len(args))
            or (not session.authenticated and not entry.noauth)
        ):
            return (
                self._run_monitored(session, args) if self._monitors else self._run(session, args)
            )
        name = entry.name
        refusal = guard(session, entry.command, args)
        if refusal is not None:
            if name == "exec":
                discard_transaction(session)  # as Redis: the redirection itself, no EXECABORT
                return self._rejected(entry, refusal)
            return self._rejected(entry, refuse(session, name, refusal))
        in_exec = name == "exec" and session.queued is not None
        self._in_exec = in_exec  # EXEC's commands were checked together: run them as they are
        try:
            if self._monitors:
                return self._run_monitored(session, args)
            return self._run(session, args)
        finally:
            self._in_exec = False
            # ASKING holds for the next command only (for a whole transaction inside MULTI).
            if name != "asking" and session.queued is None:
                session.asking = False

    def _run_monitored(self, session: Session, args: Args) -> Reply:
        reply = self._run(session, args)
        # As Redis 7.0 shows them: commands that ran (after they ran, in the database they
        # left selected), not those refused before running or queued in MULTI, nor
        # administrative ones (CONFIG, SAVE, SHUTDOWN, MONITOR...).
        entry = self._by_name.get(args[0]) or self._look_up(args[0])
        if (
            entry is None
            or "admin" in entry.command.flags
            or _administrative(entry.name, args)
            or not session.authenticated
            or reply is QUEUED
            or not arity_accepts(entry.arity, len(args))
        ):
            return reply
        line = monitor_line(session, args)
        for monitor in self._monitors:
            if monitor.peer is not None:
                monitor.peer.push(line)
        return reply

    def _rejected(self, entry: Entry | None, error: ReplyError) -> ReplyError:
        stats = self.stats
        stats.errors += 1
        stats.error_codes[error.code] += 1
        if entry is not None:
            entry.tally.rejected += 1
        self.start_clock()  # the end of this request: not counted in the next command's time
        return error

    def _failed(self, entry: Entry, error: ReplyError) -> ReplyError:
        stats = self.stats
        stats.errors += 1
        stats.error_codes[error.code] += 1
        entry.tally.failed += 1
        return error

    def execute(self, session: Session, args: Args) -> Reply:
        """Run one request (the command name first) for ``session``: its reply, an error reply
        for anything a client can send wrong."""
        self.start_clock()  # timed on its own: from now to its end
        if self._detour:
            return self._run_detour(session, args)
        return self._run(session, args)

    def answer(
        self, session: Session, requests: list[Args], start: int, out: list[bytes], flush_size: int
    ) -> int:
        """Run ``requests`` from index ``start`` one after the other, each timed from the end
        of the one before (:meth:`start_clock`: the clock is started here), and append each
        reply to ``out``, encoded for the session's RESP version: the pieces of a connection's
        one buffer for the replies of a read. Stop after a reply that ends the session (QUIT;
        SHUTDOWN's is suppressed: not encoded) or once the replies hold more than
        ``flush_size`` bytes. The index of the first request not run."""
        self.start_clock()
        count = len(requests)
        index = start
        size = 0
        while index < count:
            args = requests[index]
            index += 1
            reply = self._run_detour(session, args) if self._detour else self._run(session, args)
            if session.muted and session.drops_reply(reply):  # CLIENT REPLY OFF or SKIP
                if session.close_after_reply:
                    break
                continue
            if session.close_after_reply:
                if not session.reply_suppressed:
                    encode_into(out, reply, session.protocol)
                break
            size += encode_into(out, reply, session.protocol)
            if size > flush_size:
                break
        return index

    def execute_next(self, session: Session, args: Args) -> Reply:
        """:meth:`execute`, timed from the last clock reading: the previous request's end, or
        :meth:`start_clock` (one clock reading per request instead of two)."""
        if self._detour:
            return self._run_detour(session, args)
        return self._run(session, args)

    def _run(self, session: Session, args: Args) -> Reply:
        entry = self._by_name.get(args[0])
        if entry is None:
            entry = self._look_up(args[0])
            if entry is None:
                return self._rejected(None, refuse(session, "", UnknownCommandError(args)))
        name = entry.name
        arity = entry.arity
        if (len(args) != arity) if arity >= 0 else (len(args) < -arity):  # arity_accepts, inlined
            return self._rejected(entry, refuse(session, name, wrong_arity(name)))
        if not session.authenticated and not entry.noauth:
            if session.subscriptions is None:
                return self._rejected(entry, NOAUTH)
            if name not in SUBSCRIBED_CONTEXT:  # a RESP2 connection in subscribed state
                return self._rejected(entry, subscribed_context_error(name, args))
        # Inside MULTI, commands wait for EXEC, which runs each back through here. Checks that
        # refuse a command while queueing belong above (and call ``refuse``); what follows sees
        # each queued command once, when EXEC runs it.
        if session.queued is not None and name not in RUN_IN_MULTI:
            reply = self._queue(session, entry, args)
            self.start_clock()  # the end of this request, as for a refused one
            return reply
        tally = entry.tally
        tally.calls += 1
        session.last_command = name
        journal = self.journal
        # Timing a command costs one clock reading and one counter update; the slow log one
        # comparison unless the command was slow. Whether it is timed is decided here: CONFIG
        # SET may change it while the command runs.
        timed = self.timing
        started = self.clock_ns
        try:
            if journal is not None and entry.write:
                if journal.refusal is not None:
                    return self._failed(entry, journal.refusal)  # counted in calls
                try:
                    return entry.handler(session, args)
                finally:
                    journal.record(entry, args, session.db)
            return entry.handler(session, args)
        except ReplyError as error:
            return self._failed(entry, error)
        except Exception:
            # A bug in a handler must cost one error reply, not the connection or the server.
            log.exception("command %s failed", name)
            return self._failed(entry, ReplyError(f"ERR internal error while running '{name}'"))
        finally:
            if timed:
                ended = self.clock()
                self.clock_ns = ended
                elapsed = ended - started
                tally.run_ns += elapsed
                if self.tracking_latency:
                    tally.histogram[_histogram_bucket(elapsed)] += 1
                if elapsed >= self.slow_ns:
                    self._slow(entry, args, elapsed, session)

    def _slow(self, entry: Entry, args: Args, elapsed: int, session: Session) -> None:
        """A command at least as slow as one threshold: to the slow log, the latency monitor
        (``command`` or ``fast-command``, in milliseconds, as Redis), or both."""
        slowlog = self.slowlog
        if elapsed >= slowlog.threshold_ns:
            slowlog.record(args, elapsed, session.addr, session.name)
        event = "fast-command" if "fast" in entry.command.flags else "command"
        self.stats.latency.add_if_needed(event, elapsed // 1_000_000)

    def _queue(self, session: Session, entry: Entry, args: Args) -> Reply:
        """Queue a command inside MULTI, or refuse it (and doom the transaction)."""
        if "no_multi" in entry.command.flags:  # SHUTDOWN: as Redis, refused and dooms the EXEC
            self.stats.errors += 1
            return refuse(session, entry.name, NOT_IN_MULTI)
        refusal = subcommand_refusal(args)  # an unknown subcommand is refused at once
        if refusal is not None:
            self.stats.errors += 1
            return refuse(session, entry.name, refusal)
        if out_of_memory(session.server):  # as Redis: over the limit, nothing more is queued
            return self._rejected(entry, refuse(session, entry.name, OOM))
        assert session.queued is not None
        session.queued.append(args)
        return QUEUED
