"""The log as the dispatcher sees it: records, the durability barrier, and refusing writes
(MISCONF) while the disk fails.

Records gathered while one loop iteration runs commands are written together by one
``flush`` scheduled with ``call_soon``. The journal tells its :class:`FlushListener` (the
server) when records start to wait and when a flush made them durable (written, and fsynced
with ``always``): the server holds the replies sent meanwhile and releases them then, so no
client hears of a write before it is in the log. The journal never sees a reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from kvstore.commands.ports import LoggedCommand
from kvstore.keyspace import Databases, Keyspace, as_databases
from kvstore.persistence.disk import PartialWriteError
from kvstore.persistence.log import AppendLog
from kvstore.persistence.records import (
    FLUSHALL,
    FLUSHDB,
    SET_HEAD,
    encode_del,
    encode_select,
    encode_set,
    encode_swapdb,
    frame,
)
from kvstore.protocol.replies import ReplyError
from kvstore.protocol.resp import BULK_HEADERS as HEADERS
from kvstore.protocol.resp import CRLF, LARGE_BULK

log = logging.getLogger("kvstore.persistence")

#: Write commands that change other databases than the session's.
CROSS_DB_COMMANDS = frozenset({"flushall", "swapdb", "move", "copy"})


def _db_number(word: bytes, dbs: Databases) -> int | None:
    """The database a command's argument names, or None if it names none."""
    if not word.isdigit() or len(word) > 9:
        return None
    index = int(word)
    return index if index < len(dbs) else None


def _copy_target(args: list[bytes]) -> bytes | None:
    """The number after COPY's ``DB`` option, or None without one."""
    for position in range(3, len(args) - 1):
        if args[position].lower() == b"db":
            return args[position + 1]
    return None


#: How often a failing disk is tried again.
RETRY_SECONDS = 1.0


class FlushListener(Protocol):
    """Who must know when the records are durable: the server, holding replies till then."""

    def records_buffered(self) -> None:
        """Records wait for the flush scheduled now: replies sent from now on must wait too."""

    def records_flushed(self, durable: bool) -> None:
        """The flush ran. ``durable``: every record so far is in the file (and fsynced with
        ``always``), so every reply held may go. False: the disk failed; what is held stays
        held (and no new write runs: they are refused) until a retry succeeds."""


class Unheard:
    """A listener for a journal whose writers hold nothing (tools, tests)."""

    def records_buffered(self) -> None:
        pass

    def records_flushed(self, durable: bool) -> None:
        pass


class LogJournal:
    def __init__(
        self,
        dbs: Databases | Keyspace,
        appendlog: AppendLog,
        loop: asyncio.AbstractEventLoop,
        after_flush: Callable[[], None] = lambda: None,
        *,
        listener: FlushListener | None = None,
        free_space: Callable[[OSError], bool] = lambda exc: False,
    ) -> None:
        self.dbs = dbs = as_databases(dbs)
        #: The database the log's last record was for: a record for another one is preceded
        #: by a SELECT. Every log starts in database 0; the manager says where a log it
        #: appends to stood (``resume_in``).
        self.db: Keyspace = dbs[0]
        self.log = appendlog
        self.loop = loop
        self.after_flush = after_flush
        self.listener = Unheard() if listener is None else listener
        #: Called when the log cannot be written, before refusing writes: True if it freed
        #: space (gave up a snapshot being written), so the write is tried again at once.
        self.free_space = free_space
        self.refusal: ReplyError | None = None
        #: Records are buffered: a flush is scheduled.
        self.pending = False
        self.failure: str | None = None
        self._buffer: list[bytes] = []
        self._stalled = b""  # logged bytes that have not reached the file yet
        for db in dbs:
            db.logged = db.dirty
        self._unlogged_warned: set[str] = set()

    # -- the dispatcher's hooks -----------------------------------------------------------------

    def record(self, command: LoggedCommand, args: list[bytes], db: Keyspace) -> None:
        if db.dirty == db.logged:
            return  # nothing changed (or all of it recorded by record_other_db)
        buffer = self._buffer
        if db is not self.db:
            buffer.append(encode_select(db.index))
            self.db = db
        first = command.first_key
        if first == 1 and command.last_key == 1:  # one key, the common case: inlined
            key = args[1]
            state = db.entry(key)
            if state is None:
                buffer.append(encode_del(key))
            elif state[1] is None and len(key) < LARGE_BULK and len(state[0]) < LARGE_BULK:
                # SET key value: its pieces go straight into the buffer, joined at the flush
                # (encode_set's first case, inlined: this is every small SET's path).
                value = state[0]
                buffer += (SET_HEAD, HEADERS[len(key)], key, CRLF, HEADERS[len(value)], value, CRLF)
            else:
                buffer.append(encode_set(key, state[0], state[1]))
        elif first > 0:
            last = command.last_key
            if last < 0:
                last += len(args)
            for index in range(first, last + 1, command.key_step or 1):
                key = args[index]
                state = db.entry(key)
                buffer.append(encode_del(key) if state is None else encode_set(key, *state))
        elif command.name == "flushdb":
            buffer.append(FLUSHDB)
        elif command.name in CROSS_DB_COMMANDS:
            pass  # recorded by record_other_db, as the command ran
        elif command.name not in self._unlogged_warned:
            self._unlogged_warned.add(command.name)
            log.error(
                "write command %s has no key positions: its effect is not logged", command.name
            )
        db.logged = db.dirty
        if not self.pending:  # _schedule_flush, inlined: this is every write's path
            self.pending = True
            self.loop.call_soon(self.flush)
            self.listener.records_buffered()

    def record_other_db(self, name: str, args: list[bytes], db: Keyspace) -> None:
        """The effects of a command on other databases than the session's (``db``): FLUSHALL,
        SWAPDB, MOVE's target and COPY ... DB's. Their handlers call this as they succeed;
        what the command did in ``db`` itself is recorded by :meth:`record` after it."""
        dbs = self.dbs
        buffer = self._buffer
        if name == "flushall":
            buffer.append(FLUSHALL)
            for each in dbs:
                each.logged = each.dirty
        elif name == "swapdb":
            first, second = _db_number(args[1], dbs), _db_number(args[2], dbs)
            if first is None or second is None:
                return  # refused
            if dbs[first].dirty == dbs[first].logged and dbs[second].dirty == dbs[second].logged:
                return  # nothing swapped (SWAPDB n n)
            buffer.append(encode_swapdb(first, second))
            dbs[first].logged = dbs[first].dirty
            dbs[second].logged = dbs[second].dirty
        else:  # move key db, copy source destination ... DB db
            key = args[1] if name == "move" else args[2]
            number = args[2] if name == "move" else _copy_target(args)
            index = _db_number(number, dbs) if number is not None else None
            if index is None:
                return
            target = dbs[index]
            if target.dirty == target.logged:
                return  # nothing written there
            if target is not self.db:
                buffer.append(encode_select(index))
                self.db = target
            state = target.entry(key)
            buffer.append(encode_del(key) if state is None else encode_set(key, *state))
            target.logged = target.dirty
        if not self.pending:
            self._schedule_flush()

    def record_deleted(self, key: bytes, db: Keyspace) -> None:
        if db is not self.db:
            self._buffer.append(encode_select(db.index))
            self.db = db
        self._buffer.append(encode_del(key))
        db.logged = db.dirty
        if not self.pending:
            self._schedule_flush()

    def record_expired(self, key: bytes, db: Keyspace) -> None:
        """Log that ``key`` reached its deadline and was removed from ``db``, so replicas
        (which expire nothing themselves) drop it too. It may happen in the middle of a
        command, so unlike :meth:`record_deleted` it leaves ``db.logged`` alone: the
        command's own changes are still recorded after it."""
        if db is not self.db:
            self._buffer.append(encode_select(db.index))
            self.db = db
        self._buffer.append(encode_del(key))
        if not self.pending:
            self._schedule_flush()

    def log_switched(self) -> None:
        """A new log was started: its records are database 0's until a SELECT."""
        self.db = self.dbs[0]

    def resume_in(self, index: int) -> None:
        """The log appended to ends in database ``index`` (as recovery found it)."""
        self.db = self.dbs[index]

    def _schedule_flush(self) -> None:
        self.pending = True
        self.loop.call_soon(self.flush)
        self.listener.records_buffered()

    # -- the barrier ----------------------------------------------------------------------------

    def flush(self, check_size: bool = True) -> None:
        """Write the buffered records (and fsync with ``always``), then tell the listener they
        are durable; then, unless told not to, let the owner decide whether the log needs
        compacting."""
        self.pending = False
        data = b"".join(self._buffer)
        self._buffer.clear()
        if data:
            data = frame(data)  # one checksum per write(2): the records' damage is detectable
        if self.failure is not None:
            self._stalled += data
            self.listener.records_flushed(False)
            return
        if data:
            try:
                self.log.append(data)
            except PartialWriteError as exc:
                self._stalled = data[exc.written :]
                if not (self.free_space(exc) and self._write_stalled()):
                    self._fail(exc)
                    self.listener.records_flushed(False)
                    return
            except OSError as exc:  # the fsync of ``always``
                self._fail(exc)
                self.listener.records_flushed(False)
                return
        self.listener.records_flushed(True)
        if check_size:
            self.after_flush()

    def _write_stalled(self) -> bool:
        """Try the bytes that did not reach the log again; True if they all did now."""
        try:
            self.log.append(self._stalled)
        except PartialWriteError as exc:
            self._stalled = self._stalled[exc.written :]
            return False
        except OSError:  # the fsync of ``always``: the bytes are written
            self._stalled = b""
            return False
        self._stalled = b""
        return True

    def fsync_failed(self, exc: OSError) -> None:
        """The everysec thread's fsync failed (called on the loop)."""
        self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        if self.failure is None:
            log.error(
                "cannot write the append-only log %s: %s; refusing writes (MISCONF) and "
                "retrying every second",
                self.log.path,
                reason,
            )
            self.loop.call_later(RETRY_SECONDS, self._retry)
        self.failure = reason
        self.refusal = ReplyError(
            f"MISCONF Errors writing to the append-only log {self.log.path}: {reason}; "
            "write commands are refused until the disk works again"
        )

    def _retry(self) -> None:
        try:
            if self._stalled:
                try:
                    self.log.append(self._stalled)
                except PartialWriteError as exc:
                    self._stalled = self._stalled[exc.written :]
                    raise
                self._stalled = b""
            if self.log.policy != "no":
                self.log.fsync()
        except OSError as exc:
            self.failure = exc.strerror or str(exc)
            self.loop.call_later(RETRY_SECONDS, self._retry)
            return
        log.warning("the append-only log is writable again: accepting writes")
        self.failure = None
        self.refusal = None
        if not self.pending:  # else the flush scheduled writes the buffer, then tells
            self.listener.records_flushed(True)
