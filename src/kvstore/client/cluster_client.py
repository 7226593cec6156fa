"""Cluster clients: :class:`ClusterClient` (blocking) and :class:`AsyncClusterClient`
(asyncio). Every command of the library, each sent to the node serving its key's slot, with
MOVED and ASK followed (:mod:`kvstore.client.cluster_core`); one connection per node, made
when first needed, with the options given here."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from kvstore.client.address import Address, parse_address
from kvstore.client.async_client import AsyncClient, AsyncPipeline
from kvstore.client.calls import Call
from kvstore.client.cluster_core import (
    RETRY_PAUSES,
    Pause,
    Routing,
    SlotMap,
    route_batch,
    route_with_retries,
)
from kvstore.client.commands import Commands
from kvstore.client.errors import ConnectionError, TimeoutError
from kvstore.client.sync_client import Client, Pipeline

T = TypeVar("T")
NodeT = TypeVar("NodeT", Client, AsyncClient)


def _seeds(addresses: str | Address | Sequence[str | Address]) -> list[Address]:
    if isinstance(addresses, (str, Address)):
        addresses = [addresses]
    return [parse_address(a) if isinstance(a, str) else a for a in addresses]


class _Nodes(Generic[NodeT]):
    """What the two cluster clients share: the slot map, the retry pauses, and one
    connection per node, made with the options given on first use."""

    _node_type: type[NodeT]

    def __init__(
        self,
        addresses: str | Address | Sequence[str | Address],
        *,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
        **options: Any,
    ) -> None:
        self._slots = SlotMap(_seeds(addresses))
        self._pauses = retry_pauses
        self._options = options
        self._nodes: dict[Address, NodeT] = {}

    def node(self, address: Address) -> NodeT:
        """The connection to the node at ``address`` (made on first use)."""
        client = self._nodes.get(address)
        if client is None:
            client = self._nodes[address] = self._node_type(address, **self._options)
        return client


class ClusterClient(Commands, _Nodes[Client]):
    """A blocking client of a cluster: ``ClusterClient("127.0.0.1:7000")`` (or a list of
    nodes to start from). The keyword options are :class:`~kvstore.client.Client`'s (except
    ``db``: a cluster has database 0 only), used for every node's connection. The keys of one
    command must share a slot (give them one ``{hash tag}``). :meth:`pipeline` sends many
    commands in one round trip per node; subscriptions are not offered.

    A call whose node cannot be reached, or that gets ``CLUSTERDOWN``, is tried again after
    each wait in ``retry_pauses`` (about 8 s in all: a failover's length), with the slot map
    reloaded; ``retry_pauses=()`` fails at once."""

    _node_type = Client

    def __init__(
        self,
        addresses: str | Address | Sequence[str | Address],
        *,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
        **options: Any,
    ) -> None:
        super().__init__(addresses, retry_pauses=retry_pauses, **options)
        self._lock = threading.Lock()

    def pipeline(self) -> Pipeline:
        """A pipeline: queue commands (any keys), then send them with ``execute()``: one
        round trip per node, not a transaction (commands on different nodes are not ordered
        with each other, and a redirected one is sent again after the rest)."""
        return Pipeline(self)

    def _run_call(self, call: Call[T]) -> T:
        with self._lock:
            result: T = self._drive(route_with_retries(self._slots, call, self._pauses))
            return result

    def _run_calls(self, calls: list[Call[Any]]) -> list[Any]:
        with self._lock:
            results: list[Any] = self._drive(route_batch(self._slots, calls, self._pauses))
            return results

    def _drive(self, routing: Routing) -> Any:
        try:
            step = next(routing)
            while True:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    step = routing.send([])
                    continue
                address, calls = step
                try:
                    results = self.node(address)._run_calls(calls)
                except (ConnectionError, TimeoutError) as exc:
                    step = routing.throw(exc)  # the routing marks the map stale
                    continue
                step = routing.send(results)
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        for client in self._nodes.values():
            client.close()
        self._nodes.clear()

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClusterClient(Commands, _Nodes[AsyncClient]):
    """The asyncio twin of :class:`ClusterClient`: the same routing and retries, awaited."""

    _node_type = AsyncClient

    def __init__(
        self,
        addresses: str | Address | Sequence[str | Address],
        *,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
        **options: Any,
    ) -> None:
        super().__init__(addresses, retry_pauses=retry_pauses, **options)
        self._lock = asyncio.Lock()

    def pipeline(self) -> AsyncPipeline:
        """A pipeline: queue commands (any keys), then send them with ``await execute()``
        (as :meth:`ClusterClient.pipeline`)."""
        return AsyncPipeline(self)

    async def _run_call(self, call: Call[T]) -> T:
        async with self._lock:
            result: T = await self._drive(route_with_retries(self._slots, call, self._pauses))
            return result

    async def _run_calls(self, calls: list[Call[Any]]) -> list[Any]:
        async with self._lock:
            results: list[Any] = await self._drive(route_batch(self._slots, calls, self._pauses))
            return results

    async def _drive(self, routing: Routing) -> Any:
        try:
            step = next(routing)
            while True:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = routing.send([])
                    continue
                address, calls = step
                try:
                    results = await self.node(address)._run_calls(calls)
                except (ConnectionError, TimeoutError) as exc:
                    step = routing.throw(exc)  # the routing marks the map stale
                    continue
                step = routing.send(results)
        except StopIteration as done:
            return done.value

    async def close(self) -> None:
        for client in self._nodes.values():
            await client.close()
        self._nodes.clear()

    async def __aenter__(self) -> AsyncClusterClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
