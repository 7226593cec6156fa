"""Requests held by CLIENT PAUSE: the server's side of it.

While a pause is on, a connection runs its requests one by one, asking
:func:`kvstore.commands.pause.holds` about each; the first one held and every one after it are
kept, in order (the connection goes on reading, so a client that leaves is noticed, up to a
bound past which its socket's buffers push back on it). It registers here; when the pause
ends (CLIENT UNPAUSE, or its time is up: a timer on the event loop) every registered
connection runs what it kept, each in its own turn of the loop. Nothing waits in the middle
of a command, and the loop never blocks.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from kvstore.commands import ServerState
from kvstore.commands.pause_state import ClientPause


class Postponer(Protocol):
    """A connection holding requests until the pause ends."""

    def resume_postponed(self) -> None:
        """Run the requests kept (some may be held again by a new pause)."""


class PausedClients:
    """The connections holding requests, and the timer that ends the pause."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._waiting: dict[Postponer, None] = {}  # a dict as an ordered set
        self._timer: asyncio.TimerHandle | None = None
        state.pause.watch(self._changed)

    def wait(self, who: Postponer) -> None:
        self._waiting[who] = None
        self._state.paused_clients = len(self._waiting)

    def forget(self, who: Postponer) -> None:
        """``who`` is gone (disconnected) while holding requests."""
        self._waiting.pop(who, None)
        self._state.paused_clients = len(self._waiting)

    def _changed(self, pause: ClientPause) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        if pause.mode:
            delay = max(pause.end_ms - pause.now(), 0) / 1000
            self._timer = loop.call_later(delay, self._time_up)
            return
        waiting, self._waiting = self._waiting, {}
        self._state.paused_clients = 0
        for who in waiting:  # each in its own turn: the callback that ended the pause is short
            loop.call_soon(who.resume_postponed)

    def _time_up(self) -> None:
        self._timer = None
        if self._state.pause.expire():  # the clock and the timer disagree by a little
            self._changed(self._state.pause)
