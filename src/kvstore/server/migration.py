"""MIGRATE's network part: one task per transfer, on the server's event loop.

The command (:mod:`kvstore.commands.migrate`) has read the values and built the requests; here
they are written to the target and its one-line replies read (AUTH's, SELECT's, one per
RESTORE), each step within the command's timeout, as Redis's ``syncReadLine`` reads them.
Nothing here touches the keyspace: the command's callback does, back on the loop.

As Redis does, a connection to a target is kept after a transfer and reused by the next one
to it for up to :data:`KEEP_SECONDS` of idleness (INFO's ``migrate_cached_sockets`` counts
them); a kept connection that fails before the target answered anything is replaced by a
fresh one once, as Redis retries, since the target may simply have closed it meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("kvstore.migrate")

#: A reply line longer than this is not one of the replies MIGRATE reads.
MAX_LINE = 1 << 16
#: How long an idle connection to a target is kept (Redis's MIGRATE_SOCKET_CACHE_TTL).
KEEP_SECONDS = 10.0
#: How many targets' connections are kept at most (Redis's MIGRATE_SOCKET_CACHE_ITEMS).
KEEP_TARGETS = 64

Done = Callable[[list[bytes], str], None]


class _StepFailedError(Exception):
    """A step of the exchange failed: ``step`` says which."""

    def __init__(self, step: str, timed_out: bool = False) -> None:
        super().__init__(step)
        self.step = step
        self.timed_out = timed_out


@dataclass
class _Link:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


class Transfers:
    """Runs transfers (:class:`kvstore.commands.ports.Transfer`), keeping their tasks and
    the idle connections to their targets."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle: dict[tuple[str, int], list[_Link]] = {}

    @property
    def cached(self) -> int:
        """Idle connections kept for reuse (INFO's ``migrate_cached_sockets``)."""
        self._drop_stale()
        return sum(len(links) for links in self._idle.values())

    def send(
        self,
        host: str,
        port: int,
        *,
        timeout_ms: int,
        request: bytes,
        replies: int,
        done: Done,
    ) -> None:
        run = self._run(host, port, timeout_ms / 1000, request, replies, done)
        task = self._loop.create_task(run)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(  # noqa: PLR0917 - private; send() takes them by keyword
        self, host: str, port: int, timeout: float, request: bytes, replies: int, done: Done
    ) -> None:
        lines: list[bytes] = []
        failure = ""
        kept = self._take(host, port)
        try:
            reused = kept is not None and await self._reuse(
                host, port, kept, timeout, request, replies, lines
            )
            if not reused:
                await self._fresh(host, port, timeout, request, replies, lines)
        except _StepFailedError as exc:
            failure = exc.step
        try:
            done(lines, failure)
        except Exception:
            log.exception("MIGRATE to %s:%d: finishing failed", host, port)

    async def _reuse(  # noqa: PLR0917 - private
        self,
        host: str,
        port: int,
        link: _Link,
        timeout: float,
        request: bytes,
        replies: int,
        lines: list[bytes],
    ) -> bool:
        """The exchange on a kept connection; False if it failed before the target answered
        anything (closed while idle, most likely: the caller tries afresh, as Redis does)."""
        try:
            await _exchange(link, timeout, request, replies, lines)
        except _StepFailedError as exc:
            link.close()
            if lines or exc.timed_out:  # it may have taken the keys: as Redis, no retry
                raise
            return False
        self._keep(host, port, link)
        return True

    async def _fresh(  # noqa: PLR0917 - private
        self, host: str, port: int, timeout: float, request: bytes, replies: int, lines: list[bytes]
    ) -> None:
        link = await _connect(host, port, timeout)
        try:
            await _exchange(link, timeout, request, replies, lines)
        except _StepFailedError:
            link.close()
            raise
        self._keep(host, port, link)

    def _take(self, host: str, port: int) -> _Link | None:
        self._drop_stale()
        links = self._idle.get((host, port))
        if not links:
            return None
        link = links.pop()
        if not links:
            del self._idle[(host, port)]
        return link

    def _keep(self, host: str, port: int, link: _Link) -> None:
        if (host, port) not in self._idle and len(self._idle) >= KEEP_TARGETS:
            link.close()
            return
        link.idle_since = time.monotonic()
        self._idle.setdefault((host, port), []).append(link)
        self._loop.call_later(KEEP_SECONDS + 1, self._drop_stale)  # closed even if none follows

    def _drop_stale(self) -> None:
        """Close the connections idle for longer than KEEP_SECONDS."""
        oldest = time.monotonic() - KEEP_SECONDS
        for target, links in list(self._idle.items()):
            fresh = [link for link in links if link.idle_since >= oldest]
            for link in links:
                if link.idle_since < oldest:
                    link.close()
            if fresh:
                self._idle[target] = fresh
            else:
                del self._idle[target]


async def _connect(host: str, port: int, timeout: float) -> _Link:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=MAX_LINE), timeout
        )
    except ConnectionRefusedError:
        # Redis connects without blocking and learns of a refusal only when it writes.
        raise _StepFailedError("writing") from None
    except (OSError, TimeoutError, asyncio.TimeoutError, ValueError) as exc:
        log.debug("MIGRATE to %s:%d: connecting failed: %r", host, port, exc)
        raise _StepFailedError("connecting") from None
    return _Link(reader, writer)


async def _exchange(
    link: _Link, timeout: float, request: bytes, replies: int, lines: list[bytes]
) -> None:
    """Write ``request`` and read ``replies`` lines into ``lines`` (or _StepFailedError)."""
    step = "writing"
    try:
        link.writer.write(request)
        await asyncio.wait_for(link.writer.drain(), timeout)
        step = "reading"
        for _ in range(replies):
            line = await asyncio.wait_for(link.reader.readuntil(b"\n"), timeout)
            lines.append(line.rstrip(b"\r\n"))
    except (TimeoutError, asyncio.TimeoutError):
        raise _StepFailedError(step, timed_out=True) from None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        log.debug("MIGRATE: %s failed: %r", step, exc)
        raise _StepFailedError(step) from None
