"""The compiled twin of a pure module, for the tests that hold the two builds side by side."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import pytest

from kvstore import build


def compiled_twin(pure: ModuleType) -> tuple[ModuleType | None, pytest.MarkDecorator]:
    """``pure``'s compiled twin (None where it is not built), and the mark that skips a module
    of tests that compares the two where there is nothing to compare with."""
    try:
        twin: ModuleType | None = importlib.import_module(build.TWINS[pure.__name__])
    except ImportError:
        twin = None
    return twin, pytest.mark.skipif(
        twin is None,
        reason="the compiled build is not built here (Cython or a C compiler was missing when "
        "kvstore was installed): there is nothing to compare the pure build with",
    )


class MemoryLog:
    """An append-only log in memory: what the journal appended, in order."""

    policy = "everysec"
    path = "memory.aof"

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def append(self, data: bytes) -> None:
        self.written.append(data)


class Loop:
    """Records what the journal schedules; the test runs the flush itself."""

    def __init__(self) -> None:
        self.scheduled: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.scheduled.append(callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        raise AssertionError("the disk never fails here")
