"""The append-only log file: appending, the fsync policies, switching to the next file.

Logs are ``appendonly.<seq>.log`` in the data directory; a compaction switches writing to the
next sequence number. With ``everysec`` a daemon thread fsyncs about once a second, off the
event loop; errors it meets are handed to ``on_fsync_error`` on the loop.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from time import perf_counter_ns

from kvstore.persistence.disk import Disk

LOG_NAME = re.compile(r"^appendonly\.(\d+)\.log$")


def log_name(seq: int) -> str:
    return f"appendonly.{seq}.log"


def list_logs(directory: str) -> list[tuple[int, str]]:
    """(sequence, path) of every log in ``directory``, oldest first."""
    found = []
    for name in os.listdir(directory):
        match = LOG_NAME.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found)


class AppendLog:
    def __init__(self, disk: Disk, directory: str, seq: int, policy: str) -> None:
        self.disk = disk
        self.directory = directory
        self.policy = policy
        self.seq = seq
        self.path = os.path.join(directory, log_name(seq))
        self.fd = disk.open_append(self.path)
        self.size = os.fstat(self.fd).st_size
        #: Bytes written since the last fsync (read by the fsync thread).
        self.unsynced = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Told every byte that reaches the file, in order (the replication stream, while this
        #: node has one: the stream is the log's bytes); None: nobody listens.
        self.on_append: Callable[[bytes], None] | None = None
        #: Told each write's and each ``always`` fsync's duration (ms) as the latency monitor's
        #: ``aof-write`` and ``aof-fsync-always`` events (None: nobody listens).
        self.latency: Callable[[str, int], None] | None = None

    # -- writing (event loop) -------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Write ``data`` (fsync too with ``always``). On error raise PartialWriteError/OSError;
        ``size`` counts what reached the file either way."""
        latency = self.latency
        started = perf_counter_ns() if latency is not None else 0
        try:
            self.disk.write_all(self.fd, data)
        except OSError as exc:
            done = getattr(exc, "written", 0)
            self.size += done
            if done and self.on_append is not None:
                self.on_append(data[:done])  # the rest follows when the retry writes it
            raise
        self.size += len(data)
        self.unsynced = True
        if latency is not None:
            written = perf_counter_ns()
            latency("aof-write", (written - started) // 1_000_000)
        if self.on_append is not None:
            self.on_append(data)
        if self.policy == "always":
            self.fsync()
            if latency is not None:
                latency("aof-fsync-always", (perf_counter_ns() - written) // 1_000_000)

    def fsync(self) -> None:
        with self._lock:
            self.unsynced = False
            try:
                self.disk.fsync(self.fd)
            except OSError:
                self.unsynced = True
                raise

    def switch(self) -> int:
        """Start writing the next log (fsyncing and closing this one); return the old seq."""
        old_seq, old_fd = self.seq, self.fd
        path = os.path.join(self.directory, log_name(self.seq + 1))
        fd = self.disk.open_append(path)
        self.disk.fsync_dir(self.directory)
        with self._lock:
            if self.policy != "no":
                self.disk.fsync(old_fd)
            self.seq += 1
            self.fd, self.path, self.size = fd, path, 0
            self.unsynced = False
        self.disk.close(old_fd)
        return old_seq

    def close(self) -> None:
        self.stop_fsync_thread()
        try:
            self.fsync()
        finally:
            self.disk.close(self.fd)

    # -- everysec ------------------------------------------------------------------------------

    def start_fsync_thread(self, on_fsync_error: Callable[[OSError], None]) -> None:
        self._stop = threading.Event()  # a fresh one: the policy may come back to everysec

        def run() -> None:
            while not self._stop.wait(1.0):
                if self.unsynced:
                    try:
                        self.fsync()
                    except OSError as exc:
                        on_fsync_error(exc)

        self._thread = threading.Thread(target=run, name="kvstore-fsync", daemon=True)
        self._thread.start()

    def stop_fsync_thread(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
