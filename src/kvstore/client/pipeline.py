"""What the sync and asyncio pipelines share: the queue of calls their methods add to."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from kvstore.client.calls import Call
from kvstore.client.commands import Commands

PipelineT = TypeVar("PipelineT", bound="PipelineBase")


class RunsBatches(Protocol):
    """Runs a pipeline's calls and returns their results, error replies among them: a client,
    or a cluster client (one round trip per node)."""

    def _run_calls(self, calls: list[Call[Any]]) -> list[Any]: ...


class AwaitsBatches(Protocol):
    """The asyncio twin of :class:`RunsBatches`."""

    def _run_calls(self, calls: list[Call[Any]]) -> Awaitable[list[Any]]: ...


class PipelineBase(Commands):
    """Commands called on a pipeline are queued, and sent together by ``execute()``.

    Each command method returns the pipeline, so calls can be chained. Leaving a ``with`` block
    discards whatever was queued and not executed.
    """

    def __init__(self) -> None:
        self._calls: list[Call[Any]] = []

    def _run_call(self: PipelineT, call: Call[Any]) -> PipelineT:
        self._calls.append(call)
        return self

    def __len__(self) -> int:
        """How many calls are queued."""
        return len(self._calls)

    def reset(self) -> None:
        """Discard the queued calls."""
        self._calls.clear()

    def _take(self) -> list[Call[Any]]:
        calls, self._calls = self._calls, []
        return calls

    def __enter__(self: PipelineT) -> PipelineT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reset()
