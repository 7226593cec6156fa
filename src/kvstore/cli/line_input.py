"""Reading request lines: from a terminal with line editing, or from a pipe as bytes."""

from __future__ import annotations

import contextlib
import os
import sys
from types import ModuleType
from typing import BinaryIO, Protocol

HISTORY_FILE = "~/.kvstore_history"
HISTORY_LENGTH = 1000


class LineSource(Protocol):
    def read_line(self, prompt: bytes) -> bytes | None:
        """Show ``prompt`` and return the next line without its terminator; None at the end."""
        ...

    def close(self) -> None: ...


class StreamLines:
    """Lines from a pipe or file: the prompt is written to ``output``, input is not echoed."""

    def __init__(self, source: BinaryIO, output: BinaryIO) -> None:
        self._source = source
        self._output = output

    def read_line(self, prompt: bytes) -> bytes | None:
        self._output.write(prompt)
        self._output.flush()
        line = self._source.readline()
        if not line:
            return None
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        return line

    def close(self) -> None:
        pass


class TerminalLines:
    """Lines typed at a terminal, through ``input()``: with ``readline`` (when it imports) that
    means line editing and a history kept in :data:`HISTORY_FILE`, read and written silently."""

    def __init__(self, history_file: str = HISTORY_FILE) -> None:
        self._readline = _import_readline()
        self._history = os.path.expanduser(history_file)
        if self._readline is not None:
            self._readline.set_history_length(HISTORY_LENGTH)
            with contextlib.suppress(OSError):
                self._readline.read_history_file(self._history)

    def read_line(self, prompt: bytes) -> bytes | None:
        try:
            text = input(prompt.decode())
        except EOFError:
            return None
        return text.encode("utf-8", "surrogateescape")

    def close(self) -> None:
        if self._readline is not None:
            with contextlib.suppress(OSError):
                self._readline.write_history_file(self._history)


def _import_readline() -> ModuleType | None:
    try:
        import readline  # noqa: PLC0415 - optional: absent on some builds
    except ImportError:
        return None
    return readline


def open_lines() -> LineSource:
    """The line source for this process's standard input."""
    if sys.stdin.isatty():
        return TerminalLines()
    return StreamLines(sys.stdin.buffer, sys.stdout.buffer)
