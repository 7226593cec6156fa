"""The file-system seam: every write, fsync and rename persistence does goes through a
:class:`Disk`, so tests can substitute one that fails on demand."""

from __future__ import annotations

import os


class Disk:
    """Thin wrappers over ``os``; raise ``OSError`` as the system calls do."""

    def open_append(self, path: str) -> int:
        return os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
        )

    def open_new(self, path: str) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        return os.open(path, flags, 0o644)

    def write(self, fd: int, data: memoryview | bytes) -> int:
        """Write some of ``data``; return how many bytes were written."""
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def rename(self, source: str, target: str) -> None:
        os.replace(source, target)

    def remove(self, path: str) -> None:
        os.remove(path)

    def truncate(self, path: str, size: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def fsync_dir(self, path: str) -> None:
        """Make a rename or a new file in ``path`` survive power loss."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_all(self, fd: int, data: bytes) -> None:
        """Write all of ``data``; on an error, :class:`PartialWriteError` says how much went."""
        done = 0
        try:
            done = self.write(fd, data)
            if done == len(data):
                return  # the usual case: one system call took it all
            view = memoryview(data)
            while done < len(view):
                done += self.write(fd, view[done:])
        except OSError as exc:
            raise PartialWriteError(exc, done) from exc


class PartialWriteError(OSError):
    """A write failed after ``written`` bytes had gone to the file."""

    def __init__(self, cause: OSError, written: int) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.written = written
