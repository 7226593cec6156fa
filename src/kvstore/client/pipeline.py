"""What the sync and asyncio pipelines share: the queue of calls their methods add to."""

from __future__ import annotations

from typing import Any, TypeVar

from kvstore.client.calls import Call
from kvstore.client.commands import Commands

PipelineT = TypeVar("PipelineT", bound="PipelineBase")


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
