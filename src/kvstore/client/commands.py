"""The commands, written once for the sync client, the asyncio client and their pipelines.

Each command is a function that builds a :class:`~kvstore.client.calls.Call`; the
:class:`Command` descriptor turns it into a method whose type depends on the class it is read
from: on :class:`~kvstore.client.sync_client.Client` it returns the result, on
:class:`~kvstore.client.async_client.AsyncClient` an awaitable of it, and on a pipeline it
queues the call and returns the pipeline. Each class supplies ``_run_call``, and the method's
type follows from its shape (the protocols of :mod:`kvstore.client.calls`), so this module
needs none of those classes; the method list is :class:`Commands`, and it exists once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from kvstore.client.calls import (
    Arg,
    AwaitsCalls,
    Call,
    Key,
    QueuesT,
    RunsCalls,
    encode_arg,
    raw,
)
from kvstore.client.errors import ProtocolError

P = ParamSpec("P")
T = TypeVar("T")


class Command(Generic[P, T]):
    """A client method made from a function that builds a :class:`Call`."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.__name__ = name

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Command[P, T]: ...

    @overload
    def __get__(self, instance: RunsCalls, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(self, instance: AwaitsCalls, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __get__(self, instance: QueuesT, owner: type[Any]) -> Callable[P, QueuesT]: ...

    def __get__(self, instance: Any, owner: type[Any]) -> Any:
        if instance is None:
            return self
        run = instance._run_call
        build = self.build

        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return run(build(*args, **kwargs))

        method.__name__ = self.__name__
        method.__doc__ = self.__doc__
        return method


# -- reply conversions -------------------------------------------------------------------------


def _unexpected(reply: Any, wanted: str) -> ProtocolError:
    return ProtocolError(f"expected {wanted} in reply, got {reply!r:.100}")


def _bulk(reply: Any) -> bytes:
    if isinstance(reply, bytes):
        return reply
    raise _unexpected(reply, "a string")


def _bulk_or_nil(reply: Any) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    raise _unexpected(reply, "a string or nil")


def _integer(reply: Any) -> int:
    if isinstance(reply, int) and not isinstance(reply, bool):
        return reply
    raise _unexpected(reply, "an integer")


def _ok_or_nil(reply: Any) -> bool:
    """SET's reply: OK when it stored the value, nil when NX or XX prevented it."""
    if reply is None:
        return False
    if reply == b"OK":
        return True
    raise _unexpected(reply, "OK or nil")


def _pong(reply: Any) -> bool:
    if reply == b"PONG":
        return True
    raise _unexpected(reply, "PONG")


# -- the commands ------------------------------------------------------------------------------


def _expiry(amount: int | timedelta, unit: timedelta) -> bytes:
    if isinstance(amount, timedelta):
        return b"%d" % (amount // unit)
    return encode_arg(amount)


def _get(key: Key) -> Call[bytes | None]:
    """The value of ``key``, or ``None`` if it does not exist."""
    return Call((b"GET", encode_arg(key)), _bulk_or_nil)


def _set(
    key: Key,
    value: Arg,
    *,
    nx: bool = False,
    xx: bool = False,
    ex: int | timedelta | None = None,
    px: int | timedelta | None = None,
    keepttl: bool = False,
) -> Call[bool]:
    """Set ``key`` to ``value``. Return True if it was set, False if ``nx``/``xx`` prevented it.

    ``nx``: only if the key does not exist; ``xx``: only if it does. ``ex``/``px``: expire in
    so many seconds/milliseconds (a ``timedelta`` is rounded down to the unit); ``keepttl``:
    keep the key's current expiry. Conflicting options raise ``ValueError`` before anything is
    sent.
    """
    if nx and xx:
        raise ValueError("set(): nx and xx exclude each other")
    if sum((ex is not None, px is not None, keepttl)) > 1:
        raise ValueError("set(): ex, px and keepttl exclude each other")
    args = [b"SET", encode_arg(key), encode_arg(value)]
    if nx:
        args.append(b"NX")
    elif xx:
        args.append(b"XX")
    if ex is not None:
        args += [b"EX", _expiry(ex, timedelta(seconds=1))]
    elif px is not None:
        args += [b"PX", _expiry(px, timedelta(milliseconds=1))]
    elif keepttl:
        args.append(b"KEEPTTL")
    return Call(tuple(args), _ok_or_nil)


def _put(key: Key, value: Arg) -> Call[bool]:
    """Insert ``key`` only if it does not exist yet (``SET key value NX``).

    Return True if it was inserted, False if the key already existed (its value is unchanged).
    """
    return Call((b"SET", encode_arg(key), encode_arg(value), b"NX"), _ok_or_nil)


def _delete(*keys: Key) -> Call[int]:
    """Delete ``keys``; return how many existed."""
    if not keys:
        raise ValueError("delete() needs at least one key")
    return Call((b"DEL", *map(encode_arg, keys)), _integer)


def _exists(*keys: Key) -> Call[int]:
    """How many of ``keys`` exist (a key named twice counts twice)."""
    if not keys:
        raise ValueError("exists() needs at least one key")
    return Call((b"EXISTS", *map(encode_arg, keys)), _integer)


def _ping() -> Call[bool]:
    """Check the connection: True when the server answers ``PONG``."""
    return Call((b"PING",), _pong)


def _echo(message: Arg) -> Call[bytes]:
    """``message``, sent to the server and back."""
    return Call((b"ECHO", encode_arg(message)), _bulk)


def _publish(channel: Arg, message: Arg) -> Call[int]:
    """Post ``message`` to ``channel``; return how many subscribers received it."""
    return Call((b"PUBLISH", encode_arg(channel), encode_arg(message)), _integer)


def _execute_command(*args: Arg) -> Call[Any]:
    """Send any command; return its reply as parsed (statuses and strings as ``bytes``).

    An error reply raises :class:`~kvstore.client.errors.ResponseError` (or its subclass for
    the error's code).
    """
    if not args:
        raise ValueError("execute_command() needs a command name")
    return Call(tuple(map(encode_arg, args)), raw)


class Commands:
    """The command methods of clients and pipelines (see the module docstring)."""

    get = Command(_get)
    set = Command(_set)
    put = Command(_put)
    delete = Command(_delete)
    exists = Command(_exists)
    ping = Command(_ping)
    echo = Command(_echo)
    publish = Command(_publish)
    execute_command = Command(_execute_command)
