"""Replies that wait for the log: the server's side of the durability barrier.

No client may hear of a write before its record is in the append-only log (and fsynced with
``appendfsync always``). Persistence says when records start to wait and when they are
durable (see :class:`kvstore.persistence.journal.FlushListener`); this object keeps the
server's view of it. While records wait, a connection keeps the replies it would have written
as its own pending output, and registers here; when the log holds the records, every
registered connection writes what it kept, in order. A connection that holds output keeps
holding what follows until then, so its replies never overtake each other.

The order is Redis's in ``beforeSleep``: write the log's buffer, fsync it with ``always``,
then write the clients' replies.
"""

from __future__ import annotations

from typing import Protocol


class Holder(Protocol):
    """A connection keeping replies until the log holds the writes they answer."""

    def release_held(self) -> None:
        """Write the replies kept (then close, if one of them asked to)."""


class HeldReplies:
    """The connections holding replies for the log, and whether records are waiting."""

    __slots__ = ("_holders", "waiting")

    def __init__(self) -> None:
        #: Records wait for a flush: a reply written now could announce one of them.
        self.waiting = False
        #: Connections holding output, in the order they started to (a dict as an ordered set).
        self._holders: dict[Holder, None] = {}

    def hold(self, holder: Holder) -> None:
        """``holder`` started to keep replies: tell it when they may go."""
        self._holders[holder] = None

    # -- the journal's listener (kvstore.persistence.journal.FlushListener) ----------------------

    def records_buffered(self) -> None:
        self.waiting = True

    def records_flushed(self, durable: bool) -> None:
        self.waiting = False
        if durable and self._holders:
            holders, self._holders = self._holders, {}
            for holder in holders:
                holder.release_held()
