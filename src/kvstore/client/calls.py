"""A command call as data: its encoded arguments and how to turn its reply into a result.

Commands are written once as functions returning a :class:`Call`; the clients decide whether
running it blocks, returns an awaitable, or queues it in a pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: A key: ``str`` is encoded as UTF-8.
Key: TypeAlias = str | bytes
#: A value or any other argument: numbers are sent in decimal, as Redis expects.
Arg: TypeAlias = str | bytes | int | float


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """One command: its arguments on the wire and the function that makes its result.

    ``convert`` is given the parsed reply unless it is an error reply; those raise (or, in a
    pipeline, stand in the results) as :class:`~kvstore.client.errors.ResponseError`.
    """

    args: tuple[bytes, ...]
    convert: Callable[[Any], T_co]


def encode_arg(value: Arg) -> bytes:
    """One argument as bytes: ``str`` as UTF-8, numbers in decimal."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    # bool is an int, but True would go out as "True": refuse it rather than guess.
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"cannot send a {type(value).__name__} as a command argument")


def raw(reply: Any) -> Any:
    """The reply as the parser produced it."""
    return reply


# -- what runs a call: the three kinds of object the command methods are read from -----------


class RunsCalls(Protocol):
    """Runs a call and returns its result: the blocking client."""

    def _run_call(self, call: Call[T]) -> T: ...


class AwaitsCalls(Protocol):
    """Runs a call when awaited: the asyncio client."""

    def _run_call(self, call: Call[T]) -> Awaitable[T]: ...


QueuesT = TypeVar("QueuesT", bound="QueuesCalls")


class QueuesCalls(Protocol):
    """Queues a call and returns itself, so calls chain: a pipeline."""

    def _run_call(self: QueuesT, call: Call[Any]) -> QueuesT: ...
