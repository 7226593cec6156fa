"""The state of CLIENT PAUSE: its mode, when it ends, who must know when it changes.

A leaf, so :class:`~kvstore.commands.context.ServerState` can hold one; which requests a pause
holds is :func:`kvstore.commands.pause.holds`.
"""

from __future__ import annotations

from collections.abc import Callable

from kvstore.keyspace import wall_clock_ms


class ClientPause:
    """The pause in force: its mode ("" while none, "write" or "all") and when it ends (a
    wall-clock millisecond); whoever must know of a change registers with :meth:`watch`."""

    def __init__(self, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.mode = ""
        self.end_ms = 0
        self._clock = clock
        self._watchers: list[Callable[[ClientPause], None]] = []

    def watch(self, watcher: Callable[[ClientPause], None]) -> None:
        self._watchers.append(watcher)

    def pause(self, mode: str, end_ms: int) -> None:
        """Pause until ``end_ms``; a pause already on keeps the later end and the stricter
        mode, as Redis does."""
        if self.mode:
            end_ms = max(end_ms, self.end_ms)
            mode = "all" if "all" in (mode, self.mode) else mode
        self.mode, self.end_ms = mode, end_ms
        self._changed()

    def unpause(self) -> None:
        if self.mode:
            self.mode, self.end_ms = "", 0
            self._changed()

    def expire(self) -> bool:
        """End the pause if its time is up; whether one is still on."""
        if self.mode and self._clock() >= self.end_ms:
            self.unpause()
        return bool(self.mode)

    def _changed(self) -> None:
        for watcher in self._watchers:
            watcher(self)

    def now(self) -> int:
        return self._clock()
