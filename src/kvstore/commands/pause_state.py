"""The state of CLIENT PAUSE: its mode, when it ends, who must know when it changes; and the
keys MIGRATE holds while their values are on the way to another server (writes to them wait,
as writes wait for a pause).

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
        #: Keys MIGRATE is moving (a count each: two migrations may name one key).
        self.held_keys: dict[bytes, int] = {}
        #: Whether connections must ask :func:`~kvstore.commands.pause.holds` about each
        #: request: a pause is on or keys are held (one attribute read on the request path).
        self.holding = False
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

    def hold_keys(self, keys: list[bytes]) -> None:
        """Hold writes to ``keys`` until :meth:`release_keys` (MIGRATE in flight)."""
        held = self.held_keys
        for key in keys:
            held[key] = held.get(key, 0) + 1
        self._changed()

    def release_keys(self, keys: list[bytes]) -> None:
        held = self.held_keys
        for key in keys:
            count = held.get(key, 0) - 1
            if count > 0:
                held[key] = count
            else:
                held.pop(key, None)
        self._changed()

    def expire(self) -> bool:
        """End the pause if its time is up; whether one is still on."""
        if self.mode and self._clock() >= self.end_ms:
            self.unpause()
        return bool(self.mode)

    def _changed(self) -> None:
        self.holding = bool(self.mode or self.held_keys)
        for watcher in self._watchers:
            watcher(self)

    def now(self) -> int:
        return self._clock()
