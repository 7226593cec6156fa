"""Synchronous acknowledgement: a write's reply waits until a chosen replica holds it.

While :attr:`HeldWrites.among` names replicas (``ip:port`` or announced node IDs), a client
connection whose read ran a write keeps that read's replies, and every later one, as its own
output, and registers here. Once the log has written the batch's records (the next loop turn,
as WAIT arms itself) the stream offset they reached is the target: when one replica named in
``among`` has acknowledged it (:meth:`Primary.acknowledged` with ``among``), the connection
writes what it kept, in order. ``among`` None releases everything; an empty set holds every
write until it changes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from kvstore.replication.primary import Primary


class AckWaiter(Protocol):
    """A client connection keeping replies until a write is acknowledged."""

    def release_acked(self) -> None:
        """Write the replies kept (in order) and read requests again."""

    def kill(self) -> None:
        """Close the connection; the replies kept are never written."""


@dataclass(eq=False)
class _Hold:
    #: When the first reply kept started to wait (monotonic seconds).
    since: float
    #: Resolves once a replica in ``among`` holds the target offset (None: not armed yet).
    future: asyncio.Future[int] | None = None
    #: The stream offset to be acknowledged (-1: the log has not written the records yet).
    target: int = -1


class HeldWrites:
    """The connections whose write replies wait for a replica's acknowledgement."""

    def __init__(self, primary: Primary, loop: asyncio.AbstractEventLoop) -> None:
        self.primary = primary
        self.loop = loop
        #: The replicas whose acknowledgement releases a write (None: replies are not held).
        self.among: frozenset[str] | None = None
        self._holds: dict[AckWaiter, _Hold] = {}
        self._to_arm: list[AckWaiter] = []

    def __len__(self) -> int:
        return len(self._holds)

    def hold(self, waiter: AckWaiter) -> None:
        """``waiter``'s read just ran a write: it keeps its replies until the offset the log
        reaches with it is acknowledged (a later write moves the target on)."""
        hold = self._holds.get(waiter)
        if hold is None:
            self._holds[waiter] = _Hold(time.monotonic())
        else:
            self._disarm(hold)  # its old target is not enough any more
        if not self._to_arm:
            self.loop.call_soon(self._arm_all)  # after the log's flush, scheduled before
        self._to_arm.append(waiter)

    def forget(self, waiter: AckWaiter) -> None:
        """``waiter`` closed: nothing to release."""
        hold = self._holds.pop(waiter, None)
        if hold is not None:
            self._disarm(hold)

    def set_among(self, among: frozenset[str] | None) -> None:
        """Acknowledgements now come from ``among``: every held reply is checked again."""
        self.among = among
        if among is None:
            holds, self._holds = self._holds, {}
            self._to_arm = []
            for waiter, hold in holds.items():
                self._disarm(hold)
                waiter.release_acked()
            return
        for waiter, hold in list(self._holds.items()):
            if hold.future is not None:
                self._disarm(hold)
                self._arm(waiter, hold, hold.target)

    def oldest(self) -> float | None:
        """Seconds the longest-held write reply has waited (None: none waits)."""
        if not self._holds:
            return None
        return time.monotonic() - min(hold.since for hold in self._holds.values())

    def drop_all(self) -> int:
        """Close every connection holding a write reply (those writes will never be
        acknowledged); how many."""
        holds, self._holds = self._holds, {}
        self._to_arm = []
        for waiter, hold in holds.items():
            self._disarm(hold)
            waiter.kill()
        return len(holds)

    def _arm_all(self) -> None:
        waiters, self._to_arm = self._to_arm, []
        target = self.primary.offset  # the log has written this turn's records
        for waiter in waiters:
            hold = self._holds.get(waiter)
            if hold is not None and hold.future is None:
                self._arm(waiter, hold, target)

    def _arm(self, waiter: AckWaiter, hold: _Hold, target: int) -> None:
        hold.target = target
        if self.among is None:
            self._release(waiter, hold)
            return
        future = self.primary.acknowledged(target, 1, among=self.among)
        hold.future = future

        def acknowledged(done: asyncio.Future[int]) -> None:
            if not done.cancelled() and hold.future is done:
                self._release(waiter, hold)

        future.add_done_callback(acknowledged)

    def _release(self, waiter: AckWaiter, hold: _Hold) -> None:
        if self._holds.get(waiter) is hold:
            del self._holds[waiter]
            waiter.release_acked()

    @staticmethod
    def _disarm(hold: _Hold) -> None:
        future, hold.future = hold.future, None
        if future is not None and not future.done():
            future.cancel()
