"""Writing snapshots: in a forked child (the loop keeps serving) or in-process (SAVE, shutdown).

Both write ``snapshot.kvs.tmp`` and fsync it; the parent then renames it into place, fsyncs the
directory and deletes the logs the new snapshot covers. The child touches no lock, logger or
event loop: it writes from its copy-on-write image of the table and leaves with ``os._exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import threading
from collections.abc import Callable

from kvstore.keyspace import Databases, wall_clock_ms
from kvstore.persistence import snapshot
from kvstore.persistence.disk import Disk


def write_temp(disk: Disk, temp_path: str, db: Databases, next_log: int) -> int:
    """Write the whole table to ``temp_path`` and fsync it; return the size."""
    fd = disk.open_new(temp_path)
    try:
        return snapshot.write_snapshot(
            disk, fd, db.items(), count=db.key_count, next_log=next_log, created_ms=wall_clock_ms()
        )
    finally:
        disk.close(fd)


def _child(disk: Disk, temp_path: str, db: Databases, next_log: int) -> None:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        # Let go of the parent's sockets and directory lock, so that if the parent dies the
        # port and the directory are free for a new server while this child finishes.
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        write_temp(disk, temp_path, db, next_log)
        code = 0
    finally:
        os._exit(code)


class ForkedSnapshot:
    """One snapshot being written by a child process; ``on_done(ok)`` runs on the loop."""

    def __init__(
        self,
        disk: Disk,
        temp_path: str,
        db: Databases,
        *,
        next_log: int,
        loop: asyncio.AbstractEventLoop,
        on_done: Callable[[bool], None],
    ) -> None:
        self.pid = os.fork()
        if self.pid == 0:
            _child(disk, temp_path, db, next_log)
        self.cancelled = False
        self._loop = loop
        self._on_done = on_done
        # A thread blocked in waitpid learns of the exit without polling.
        self._waiter = threading.Thread(target=self._wait, name="kvstore-snapshot", daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        ok = os.waitstatus_to_exitcode(status) == 0
        if not self.cancelled:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._on_done, ok)

    def cancel(self) -> None:
        """Kill the child and wait for it; ``on_done`` will not run."""
        self.cancelled = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._waiter.join()
