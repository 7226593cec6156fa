"""The asyncio client: the shared core driven over an asyncio stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from kvstore.client.base import ClientBase
from kvstore.client.calls import Arg, Call
from kvstore.client.core import (
    READ_SIZE,
    Exchange,
    only_result,
    raise_first_error,
)
from kvstore.client.pipeline import AwaitsBatches, PipelineBase
from kvstore.client.pubsub import AsyncSubscription

T = TypeVar("T")


class AsyncClient(ClientBase[tuple[asyncio.StreamReader, asyncio.StreamWriter]]):
    """An asyncio connection to a kvstore (or Redis) server; every command is awaited.

    Takes the same arguments as :class:`~kvstore.client.sync_client.Client` and behaves the
    same way: it connects on first use (or on ``async with``), reconnects after a failure, and
    runs one command at a time when tasks share it. A task cancelled mid-command drops the
    connection, since its reply would otherwise be read by the next command.
    """

    def _init_lock(self) -> None:
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        """Connect now (commands connect by themselves when needed)."""
        async with self._lock:
            await self._connected()

    async def close(self) -> None:
        """Close the connection; the client cannot be used afterwards."""
        self._closed = True
        writer = self._drop()
        if writer is not None:
            # A connection the peer reset is closed all the same.
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def pipeline(self) -> AsyncPipeline:
        """A pipeline: queue commands, then send them in one write with ``await execute()``."""
        return AsyncPipeline(self)

    async def subscribe(self, *channels: Arg) -> AsyncSubscription:
        """Subscribe to ``channels`` on a new connection: ``async for`` over the
        :class:`~kvstore.client.pubsub.AsyncSubscription` returned for the messages."""
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        return await AsyncSubscription(self._sibling())._start(b"SUBSCRIBE", channels)

    async def psubscribe(self, *patterns: Arg) -> AsyncSubscription:
        """Subscribe to channels matching ``patterns`` (``user:*``) on a new connection."""
        if not patterns:
            raise ValueError("psubscribe() needs at least one pattern")
        return await AsyncSubscription(self._sibling())._start(b"PSUBSCRIBE", patterns)

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- running calls -----------------------------------------------------------------------

    async def _run_call(self, call: Call[T]) -> T:
        result: T = only_result(await self._run_calls([call]))
        return result

    async def _run_calls(self, calls: list[Call[Any]]) -> list[Any]:
        async with self._lock:
            await self._connected()
            return await self._drive(self._core.exchange(calls))

    async def _connected(self) -> None:
        if not self._must_connect():
            return
        address = self._core.address
        try:
            self._connection = await self._within(
                asyncio.open_connection(address.host, address.port, ssl=self._tls),
                self._connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise self._core.connect_error(exc) from None
        self._core.reset()
        await self._drive(self._core.handshake())

    async def _drive(self, exchange: Exchange[T]) -> T:
        assert self._connection is not None
        reader, writer = self._connection
        timeout = self._socket_timeout
        with self._dropped_on_failure():
            try:
                step = next(exchange)
                while True:
                    if step is None:
                        step = exchange.send(await self._within(reader.read(READ_SIZE), timeout))
                    else:
                        writer.write(step)
                        await self._within(writer.drain(), timeout)
                        step = exchange.send(b"")
            except StopIteration as done:
                result: T = done.value
                return result

    @staticmethod
    async def _within(awaitable: Awaitable[T], timeout: float | None) -> T:
        if timeout is None:
            return await awaitable
        return await asyncio.wait_for(awaitable, timeout)

    def _drop(self) -> asyncio.StreamWriter | None:
        if self._connection is None:
            return None
        writer = self._connection[1]
        self._connection = None
        writer.close()
        return writer


class AsyncPipeline(PipelineBase):
    """Commands queued for one round trip on an :class:`AsyncClient` (one per node on an
    :class:`~kvstore.AsyncClusterClient`); see :meth:`execute`."""

    def __init__(self, client: AwaitsBatches) -> None:
        super().__init__()
        self._client = client

    async def execute(self, *, raise_on_error: bool = True) -> list[Any]:
        """Send the queued calls in one write and return their results, in order.

        With ``raise_on_error`` the first error reply raises once every reply is read;
        without, it stands in the list as a ``ResponseError``. The queue is emptied either way.
        """
        calls = self._take()
        if not calls:
            return []
        results = await self._client._run_calls(calls)
        if raise_on_error:
            raise_first_error(results)
        return results

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.reset()
