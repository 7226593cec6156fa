"""Persistence as the server runs it: start-up recovery, the log, compaction, SAVE and friends.

A compaction and a snapshot are the same operation: switch new writes to log N+1, write the
whole table (as of the switch) to a snapshot covering logs up to N, rename it into place and
delete logs up to N. BGSAVE, BGREWRITEAOF and the automatic compaction fork a child for it;
SAVE and a graceful shutdown write in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from kvstore.keyspace import Databases, Keyspace, as_databases
from kvstore.persistence.disk import Disk
from kvstore.persistence.journal import FlushListener, LogJournal
from kvstore.persistence.log import AppendLog, list_logs
from kvstore.persistence.recovery import SNAPSHOT_NAME, TEMP_SUFFIX, RecoveryError, recover
from kvstore.persistence.rewrite import ForkedSnapshot, write_temp
from kvstore.protocol.replies import OK, Reply, ReplyError, Status

log = logging.getLogger("kvstore.persistence")

#: After a failed snapshot the automatic compaction waits this long before trying again,
#: doubling with each failure in a row up to the cap (a full disk is not fixed in a second;
#: Redis likewise delays the rewrite after failures, up to an hour).
RETRY_FIRST_SECONDS = 10.0
RETRY_MAX_SECONDS = 600.0
#: Errors of the live log that a snapshot being written may cause by taking the disk's space.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class PersistenceSettings:
    """What persistence needs of the configuration, built by the server's assembly from its
    options (``--dir``, ``--appendfsync``, ``--auto-aof-rewrite-*``, ``--parser``); CONFIG SET
    changes reach a running :class:`Persistence` through the hooks the assembly installs."""

    #: The data directory (``--dir``).
    dir: str
    #: ``always``, ``everysec`` or ``no``.
    appendfsync: str
    auto_aof_rewrite_percentage: int
    auto_aof_rewrite_min_size: int
    #: Replay the logs with hiredis first, where it is installed (not with ``--parser python``:
    #: the standard library only, for the logs too).
    fast_replay: bool


class Persistence:
    def __init__(
        self,
        settings: PersistenceSettings,
        db: Databases | Keyspace,
        disk: Disk | None = None,
        clock: Callable[[], float] = time.monotonic,
        listener: FlushListener | None = None,
    ) -> None:
        #: Told when the log's records are durable (the server: it holds replies till then).
        self.listener = listener
        self.directory = os.path.abspath(settings.dir)
        self.policy = settings.appendfsync
        self.growth_percent = settings.auto_aof_rewrite_percentage
        self.min_size = settings.auto_aof_rewrite_min_size
        self.fast_replay = settings.fast_replay
        #: Every database: the snapshot holds them all, and the log says which each record is for.
        self.db = as_databases(db)
        self.disk = disk or Disk()
        #: Monotonic seconds, for the back-off after failures (injectable for tests).
        self.clock = clock
        self.snapshot_path = os.path.join(self.directory, SNAPSHOT_NAME)
        # Per process: a child orphaned by a crash may still write its own.
        self.temp_path = f"{self.snapshot_path}{TEMP_SUFFIX}.{os.getpid()}"
        self.log: AppendLog
        self.journal: LogJournal
        self.snapshot_size = 0
        self.older_logs_size = 0
        self.base_size = 0
        self.last_save_s = int(time.time())
        self.dirty_at_save = 0
        self.last_snapshot_ok = True
        self.last_snapshot_seconds = -1
        self.snapshots = 0
        self._job: ForkedSnapshot | None = None
        #: Another snapshot asked for while one was being written: start it after.
        self._scheduled = False
        #: Snapshots failed in a row; the automatic compaction waits until ``_retry_after``.
        self.failures = 0
        self._retry_after = 0.0
        self._job_dirty = 0
        self._job_started = 0.0

    # -- start and stop ------------------------------------------------------------------------

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Load the data directory (RecoveryError if damaged) and open the log for appending."""
        os.makedirs(self.directory, exist_ok=True)
        self._lock_directory()
        # A write past RLIMIT_FSIZE must fail with EFBIG (then MISCONF), not kill the server.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        recovered = recover(self.disk, self.directory, self.db, fast=self.fast_replay)
        self.log = AppendLog(self.disk, self.directory, recovered.seq, self.policy)
        self.disk.fsync_dir(self.directory)
        self.snapshot_size = recovered.snapshot_size
        self.older_logs_size = recovered.older_logs_size
        self.base_size = self.current_size()
        if recovered.snapshot_time_ms is not None:
            self.last_save_s = recovered.snapshot_time_ms // 1000
        self.dirty_at_save = self.db.dirty
        self.journal = LogJournal(
            self.db,
            self.log,
            loop,
            self.maybe_compact,
            listener=self.listener,
            free_space=self._free_space_for_log,
        )
        self.journal.resume_in(recovered.last_db)
        if self.policy == "everysec":
            self._start_fsync_thread(loop)

    def _start_fsync_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        journal = self.journal

        def fsync_failed(exc: OSError) -> None:
            loop.call_soon_threadsafe(journal.fsync_failed, exc)

        self.log.start_fsync_thread(fsync_failed)

    def _lock_directory(self) -> None:
        """Refuse a directory another running server uses (the lock dies with the process)."""
        path = os.path.join(self.directory, "LOCK")
        self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise RecoveryError(
                f"{self.directory} is in use by another kvstore server; refusing to start"
            ) from None

    def close(self, snapshot: bool = True) -> None:
        """Graceful shutdown: flush the log, write a snapshot (unless not wanted: SHUTDOWN
        NOSAVE), fsync and close the files."""
        self.journal.flush(check_size=False)
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self._discard_temp()
        try:
            if snapshot and self.journal.failure is None:
                self._save_in_process()
            self.log.close()
        except (OSError, ReplyError) as exc:
            reason = exc.message if isinstance(exc, ReplyError) else exc.strerror or exc
            log.error("cannot finish the data files at shutdown: %s", reason)

    def flush(self) -> None:
        """Write what the log buffers now (at shutdown: the replies waiting for it go out)."""
        self.journal.flush(check_size=False)

    def set_fsync_policy(self, policy: str) -> None:
        """CONFIG SET appendfsync: switch the policy, starting or stopping the fsync thread."""
        if policy == self.policy:
            return
        self.journal.flush(check_size=False)
        if self.policy == "everysec":
            self.log.stop_fsync_thread()
        self.policy = self.log.policy = policy
        if policy != "no":
            self.log.fsync()  # what was written under the old policy is on disk now
        if policy == "everysec":
            self._start_fsync_thread(asyncio.get_running_loop())

    def describe(self) -> str:
        return f"append-only log and snapshot in {self.directory} (appendfsync {self.policy})"

    # -- sizes and the automatic compaction -----------------------------------------------------

    def current_size(self) -> int:
        return self.snapshot_size + self.older_logs_size + self.log.size

    def maybe_compact(self) -> None:
        if self._job is not None or self.growth_percent <= 0:
            return
        if self._retry_after and self.clock() < self._retry_after:
            return  # backing off after a failed attempt
        size = self.snapshot_size + self.older_logs_size + self.log.size
        if size >= self.min_size and size * 100 >= self.base_size * (100 + self.growth_percent):
            log.info(
                "compacting the log: %d bytes, %d after the last compaction", size, self.base_size
            )
            with contextlib.suppress(ReplyError):  # logged; tried again after the next write
                self._start_job()

    # -- snapshots -----------------------------------------------------------------------------

    def _switch(self) -> int:
        """Flush, switch writing to the next log; return the sequence the snapshot precedes."""
        self.journal.flush(check_size=False)
        if self.journal.failure is not None:
            raise ReplyError(
                f"MISCONF the append-only log cannot be written: {self.journal.failure}"
            )
        old_size = self.log.size
        self.log.switch()
        self.journal.log_switched()
        self.older_logs_size += old_size
        return self.log.seq

    def _start_job(self) -> None:
        next_log = self._switch()
        self._job_dirty = self.db.dirty
        self._job_started = time.monotonic()
        loop = self.journal.loop
        job: ForkedSnapshot | None = None

        def done(ok: bool) -> None:
            if self._job is job and job is not None:
                self._job = None
                self._finish(ok, next_log, self._job_dirty, self._job_started)

        try:
            job = ForkedSnapshot(
                self.disk, self.temp_path, self.db, next_log=next_log, loop=loop, on_done=done
            )
        except OSError as exc:  # fork: out of memory or processes
            log.error("cannot start writing a snapshot: %s", exc.strerror or exc)
            self.last_snapshot_ok = False
            self._back_off()
            raise ReplyError("ERR cannot start a background snapshot; see the server log") from None
        self._job = job

    def _finish(self, ok: bool, next_log: int, dirty: int, started: float) -> None:
        if ok:
            try:
                self._install(next_log)
            except OSError as exc:
                log.error("cannot install the snapshot: %s", exc.strerror or exc)
                ok = False
        if ok:
            self.dirty_at_save = dirty
            self.failures = 0
            self._retry_after = 0.0
        else:
            self._discard_temp()
            wait = self._back_off()
            log.error(
                "writing the snapshot failed; the logs are kept (automatic compaction "
                "paused for %ds after %d failure(s) in a row)",
                wait,
                self.failures,
            )
        self.last_snapshot_ok = ok
        self.last_snapshot_seconds = round(time.monotonic() - started)
        if self._scheduled and self._job is None and self.journal.failure is None:
            self._scheduled = False
            self._start_job()

    def _back_off(self) -> float:
        """Count a failure; the automatic compaction waits longer after each in a row."""
        self.failures += 1
        wait: float = min(
            RETRY_FIRST_SECONDS * 2.0 ** min(self.failures - 1, 30), RETRY_MAX_SECONDS
        )
        self._retry_after = self.clock() + wait
        return wait

    def _free_space_for_log(self, exc: OSError) -> bool:
        """The live log could not be written: if the disk is full and a snapshot is being
        written, give up the snapshot (its temp file holds the space) so the log can go on.
        True if space was freed and the write is worth trying again at once."""
        if exc.errno not in _DISK_FULL or self._job is None:
            return False
        log.warning(
            "the disk is full while writing a snapshot: abandoning the snapshot to keep the "
            "append-only log writable"
        )
        job, self._job = self._job, None
        job.cancel()
        self._discard_temp()
        self.last_snapshot_ok = False
        self._back_off()
        return True

    def _install(self, next_log: int) -> None:
        """Rename the written temp snapshot into place and drop the logs it covers."""
        self.disk.rename(self.temp_path, self.snapshot_path)
        self.disk.fsync_dir(self.directory)
        self.snapshot_size = os.path.getsize(self.snapshot_path)
        for seq, path in list_logs(self.directory):
            if seq < next_log:
                self.disk.remove(path)
        self.older_logs_size = 0
        self.base_size = self.current_size()
        self.last_save_s = int(time.time())
        self.snapshots += 1
        log.info("snapshot written: %s (%d bytes)", self.snapshot_path, self.snapshot_size)

    def _discard_temp(self) -> None:
        with contextlib.suppress(OSError):
            self.disk.remove(self.temp_path)

    def _save_in_process(self) -> None:
        next_log = self._switch()
        dirty = self.db.dirty
        started = time.monotonic()
        try:
            write_temp(self.disk, self.temp_path, self.db, next_log)
        except OSError as exc:
            log.error("cannot write the snapshot: %s", exc.strerror or exc)
            self._finish(False, next_log, dirty, started)
            raise
        self._finish(True, next_log, dirty, started)

    # -- commands ------------------------------------------------------------------------------

    def save(self) -> Reply:
        if self._job is not None:
            return ReplyError("ERR Background save already in progress")
        try:
            self._save_in_process()
        except OSError:
            return ReplyError("ERR writing the snapshot failed; see the server log")
        return OK

    def bgsave(self, schedule: bool = False) -> Reply:
        if self._job is not None:
            if schedule:
                self._scheduled = True
                return Status("Background saving scheduled")
            return ReplyError("ERR Background save already in progress")
        self._start_job()
        return Status("Background saving started")

    def bgrewriteaof(self) -> Reply:
        if self._job is not None:
            self._scheduled = True
            return Status("Background append only file rewriting scheduled")
        self._start_job()
        return Status("Background append only file rewriting started")

    def lastsave(self) -> int:
        return self.last_save_s

    @property
    def in_progress(self) -> bool:
        return self._job is not None

    def info(self) -> dict[str, str | int]:
        """``INFO persistence``, with Redis's field names, in Redis's order."""
        busy = int(self._job is not None)
        status = "ok" if self.last_snapshot_ok else "err"
        return {
            "loading": 0,
            "rdb_changes_since_last_save": self.db.dirty - self.dirty_at_save,
            "rdb_bgsave_in_progress": busy,
            "rdb_last_save_time": self.last_save_s,
            "rdb_last_bgsave_status": status,
            "rdb_last_bgsave_time_sec": self.last_snapshot_seconds,
            "rdb_saves": self.snapshots,
            "aof_enabled": 1,
            "aof_rewrite_in_progress": busy,
            "aof_rewrite_scheduled": int(self._scheduled),
            "aof_last_rewrite_time_sec": self.last_snapshot_seconds,
            "aof_last_bgrewrite_status": status,
            "aof_rewrites": self.snapshots,
            "aof_rewrites_consecutive_failures": self.failures,
            "aof_last_write_status": "ok" if self.journal.failure is None else "err",
            "aof_last_write_error": self.journal.failure or "",
            "aof_current_size": self.current_size(),
            "aof_base_size": self.base_size,
            "aof_fsync_policy": self.policy,
            "aof_dir": self.directory,
        }
