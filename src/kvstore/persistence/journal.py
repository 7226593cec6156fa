"""The log as the dispatcher and the connections see it: records, the durability barrier, and
refusing writes (MISCONF) while the disk fails.

Records gathered while one loop iteration runs commands are written together by one
``flush`` scheduled with ``call_soon``; replies sent meanwhile are held and released after it
(after its fsync with ``always``), so no client hears of a write before it is in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kvstore.commands.table import Args, Command
from kvstore.keyspace import Keyspace
from kvstore.persistence.disk import PartialWriteError
from kvstore.persistence.log import AppendLog
from kvstore.persistence.records import (
    FLUSHALL,
    SET_HEAD,
    encode_del,
    encode_set,
    frame,
)
from kvstore.protocol.replies import ReplyError
from kvstore.protocol.resp_replies import BULK_HEADERS as HEADERS
from kvstore.protocol.resp_replies import CRLF, LARGE_BULK

log = logging.getLogger("kvstore.persistence")

#: Write commands without key positions that empty the table.
FLUSH_COMMANDS = frozenset({"flushdb", "flushall"})
#: How often a failing disk is tried again.
RETRY_SECONDS = 1.0


class LogJournal:
    def __init__(
        self,
        db: Keyspace,
        appendlog: AppendLog,
        loop: asyncio.AbstractEventLoop,
        after_flush: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.log = appendlog
        self.loop = loop
        self.after_flush = after_flush
        #: Called when the log cannot be written, before refusing writes: True if it freed
        #: space (gave up a snapshot being written), so the write is tried again at once.
        self.free_space: Callable[[OSError], bool] = lambda exc: False
        self.refusal: ReplyError | None = None
        #: Records are buffered: replies must wait for the next flush.
        self.pending = False
        #: Replies waiting for their writes to reach the log, per connection, in order.
        self.held: dict[asyncio.Transport, list[tuple[bytes, bool]]] = {}
        self.failure: str | None = None
        self._buffer: list[bytes] = []
        self._stalled = b""  # logged bytes that have not reached the file yet
        self._seen = db.dirty
        self._unlogged_warned: set[str] = set()

    # -- the dispatcher's hooks -----------------------------------------------------------------

    def record(self, command: Command, args: Args) -> None:
        db = self.db
        if db.dirty == self._seen:
            return  # nothing changed
        first = command.first_key
        buffer = self._buffer
        if first == 1 and command.last_key == 1:  # one key, the common case: inlined
            key = args[1]
            state = db.entry(key)
            if state is None:
                buffer.append(encode_del(key))
            elif state[1] is None and len(key) < LARGE_BULK and len(state[0]) < LARGE_BULK:
                # SET key value: its pieces go straight into the buffer, joined at the flush.
                value = state[0]
                buffer += (SET_HEAD, HEADERS[len(key)], key, CRLF, HEADERS[len(value)], value, CRLF)
            else:
                buffer.append(encode_set(key, state[0], state[1]))
        elif first > 0:
            last = command.last_key
            if last < 0:
                last += len(args)
            entry = db.entry
            for index in range(first, last + 1, command.key_step or 1):
                key = args[index]
                state = entry(key)
                buffer.append(encode_del(key) if state is None else encode_set(key, *state))
        elif command.name in FLUSH_COMMANDS:
            buffer.append(FLUSHALL)
        elif command.name not in self._unlogged_warned:
            self._unlogged_warned.add(command.name)
            log.error(
                "write command %s has no key positions: its effect is not logged", command.name
            )
        self._seen = db.dirty
        if not self.pending:
            self.pending = True
            self.loop.call_soon(self.flush)

    def record_deleted(self, key: bytes) -> None:
        self._buffer.append(encode_del(key))
        self._seen = self.db.dirty
        if not self.pending:
            self.pending = True
            self.loop.call_soon(self.flush)

    # -- the connections' side ------------------------------------------------------------------

    def must_hold(self, transport: asyncio.Transport) -> bool:
        return self.pending or (bool(self.held) and transport in self.held)

    def hold(self, transport: asyncio.Transport, payload: bytes, close: bool) -> None:
        self.held.setdefault(transport, []).append((payload, close))

    def _release(self) -> None:
        held, self.held = self.held, {}
        for transport, replies in held.items():
            for payload, close in replies:
                if transport.is_closing():
                    break
                transport.write(payload)
                if close:
                    transport.close()

    # -- the barrier ----------------------------------------------------------------------------

    def flush(self, check_size: bool = True) -> None:
        """Write the buffered records (and fsync with ``always``), then release the replies;
        then, unless told not to, let the owner decide whether the log needs compacting."""
        self.pending = False
        data = b"".join(self._buffer)
        self._buffer.clear()
        if data:
            data = frame(data)  # one checksum per write(2): the records' damage is detectable
        if self.failure is not None:
            self._stalled += data
            return
        if data:
            try:
                self.log.append(data)
            except PartialWriteError as exc:
                self._stalled = data[exc.written :]
                if not (self.free_space(exc) and self._write_stalled()):
                    self._fail(exc)
                    return
            except OSError as exc:  # the fsync of ``always``
                self._fail(exc)
                return
        self._release()
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
        self._release()
        if self._buffer and not self.pending:
            self.pending = True
            self.loop.call_soon(self.flush)
