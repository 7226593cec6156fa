"""MIGRATE's network part: one task per transfer, on the server's event loop.

The command (:mod:`kvstore.commands.migrate`) has read the values and built the requests; here
they are written to the target and its one-line replies read (AUTH's, SELECT's, one per
RESTORE), each step within the command's timeout, as Redis's ``syncReadLine`` reads them.
Nothing here touches the keyspace: the command's callback does, back on the loop. A fresh
connection per MIGRATE (Redis keeps one per target for 10 s; INFO's ``migrate_cached_sockets``
stays 0).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("kvstore.migrate")

#: A reply line longer than this is not one of the replies MIGRATE reads.
MAX_LINE = 1 << 16


class Transfers:
    """Runs transfers (:class:`kvstore.commands.ports.Transfer`), keeping their tasks."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()

    def send(
        self,
        host: str,
        port: int,
        *,
        timeout_ms: int,
        request: bytes,
        replies: int,
        done: Callable[[list[bytes], str], None],
    ) -> None:
        run = self._run(
            host, port, timeout_ms=timeout_ms, request=request, replies=replies, done=done
        )
        task = self._loop.create_task(run)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        host: str,
        port: int,
        *,
        timeout_ms: int,
        request: bytes,
        replies: int,
        done: Callable[[list[bytes], str], None],
    ) -> None:
        lines, failure = await exchange(host, port, timeout_ms / 1000, request, replies)
        try:
            done(lines, failure)
        except Exception:
            log.exception("MIGRATE to %s:%d: finishing failed", host, port)


async def exchange(
    host: str, port: int, timeout: float, request: bytes, replies: int
) -> tuple[list[bytes], str]:
    """Write ``request`` to ``host``:``port`` and read ``replies`` lines: the lines read, and
    the step that failed ("" if none)."""
    lines: list[bytes] = []
    step = "connecting"
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            reader, stream = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=MAX_LINE), timeout
            )
        except ConnectionRefusedError:
            # Redis connects without blocking and learns of a refusal only when it writes.
            return lines, "writing"
        writer = stream
        step = "writing"
        stream.write(request)
        await asyncio.wait_for(stream.drain(), timeout)
        step = "reading"
        for _ in range(replies):
            line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout)
            lines.append(line.rstrip(b"\r\n"))
        return lines, ""
    except (OSError, TimeoutError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        log.debug("MIGRATE to %s:%d: %s failed: %r", host, port, step, exc)
        return lines, step
    except (ValueError, asyncio.LimitOverrunError):  # no such host text; a line too long
        return lines, step
    finally:
        if writer is not None:
            writer.close()
