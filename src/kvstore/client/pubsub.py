"""Subscriptions: messages published to channels (and patterns), on a connection of their own.

``client.subscribe("news")`` (or ``psubscribe("user:*")``) opens a new connection with the
client's settings (address, password, TLS), subscribes on it and returns a
:class:`Subscription`: iterate over it for :class:`Message` objects as they arrive, or poll
with :meth:`Subscription.get_message`; subscribe and unsubscribe more as you go, and
:meth:`~Subscription.close` it (or use ``with``) when done. :class:`AsyncSubscription` is the
same for :class:`~kvstore.client.AsyncClient` (``await client.subscribe(...)``, ``async for``).

The connection speaks RESP2, in which a subscribed connection carries only messages and the
confirmations of (un)subscribing; the confirmations are read and counted, not returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from kvstore.client.address import Address
from kvstore.client.calls import Arg, encode_arg
from kvstore.client.core import ProtocolCore
from kvstore.client.errors import ConnectionError, ProtocolError, response_error
from kvstore.protocol import ProtocolError as CodecError
from kvstore.protocol import ReplyError, encode_request
from kvstore.protocol.resp_replies import INCOMPLETE, ReplyDecoder


class _SyncClient(Protocol):
    """What a subscription uses of its own :class:`~kvstore.client.Client`."""

    _core: ProtocolCore
    _connection: socket.socket | None

    @property
    def address(self) -> Address: ...

    def connect(self) -> None: ...

    def close(self) -> None: ...


class _AsyncClient(Protocol):
    """What an asyncio subscription uses of its own :class:`~kvstore.client.AsyncClient`."""

    _core: ProtocolCore
    _connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None

    @property
    def address(self) -> Address: ...

    async def connect(self) -> None: ...

    async def close(self) -> None: ...


READ_SIZE = 64 * 1024
_CONFIRMATIONS = {
    b"subscribe",
    b"psubscribe",
    b"ssubscribe",
    b"unsubscribe",
    b"punsubscribe",
    b"sunsubscribe",
}


@dataclass(frozen=True)
class Message:
    """One message: ``kind`` is ``"message"`` (to a channel you subscribed to),
    ``"pmessage"`` (to a channel matching ``pattern``) or ``"smessage"`` (a shard channel)."""

    kind: str
    channel: bytes
    pattern: bytes | None
    data: bytes


class _Core:
    """The sans-I/O part: requests out, replies in, messages found among them."""

    def __init__(self, reader: ReplyDecoder, address: object) -> None:
        self.reader = reader
        self.address = address
        #: Channels and patterns subscribed to, as the last confirmation counted them.
        self.count = 0

    def feed(self, data: bytes) -> None:
        if not data:
            raise ConnectionError(f"connection to {self.address} lost (closed by the server)")
        self.reader.feed(data)

    def next_message(self) -> Message | None:
        """The next message among the replies received (None: none complete yet)."""
        while True:
            try:
                reply = self.reader.gets()
            except CodecError as exc:
                raise ProtocolError(f"invalid reply from {self.address}: {exc.message}") from None
            if reply is INCOMPLETE:
                return None
            message = self._message(reply)
            if message is not None:
                return message

    def _message(self, reply: Any) -> Message | None:
        if isinstance(reply, ReplyError):
            raise response_error(reply.message)
        if not isinstance(reply, list) or not reply:
            raise ProtocolError(f"unexpected reply on a subscribed connection: {reply!r:.100}")
        kind = reply[0]
        if kind in _CONFIRMATIONS and len(reply) == 3:
            self.count = reply[2]
            return None
        if kind in (b"message", b"smessage") and len(reply) == 3:
            return Message(kind.decode(), reply[1], None, reply[2])
        if kind == b"pmessage" and len(reply) == 4:
            return Message("pmessage", reply[2], reply[1], reply[3])
        if kind == b"pong":
            return None
        raise ProtocolError(f"unexpected reply on a subscribed connection: {reply!r:.100}")


def _lost(address: object, exc: OSError) -> ConnectionError:
    return ConnectionError(f"connection to {address} lost ({exc.strerror or exc})")


def _request(command: bytes, names: tuple[Arg, ...]) -> bytes:
    return encode_request([command, *map(encode_arg, names)])


class Subscription:
    """A blocking subscription (see the module docstring). Iterating blocks until the next
    message; it ends when the subscription is closed (from another thread too), and raises
    :class:`~kvstore.client.errors.ConnectionError` if the server closes the connection."""

    def __init__(self, client: _SyncClient) -> None:
        #: A client of its own, with the settings of the one it came from.
        self._client = client
        client.connect()
        sock = client._connection
        assert sock is not None
        self._sock = sock
        self._core = _Core(client._core._reader, client.address)
        self._send_lock = threading.Lock()
        self._closed = False

    def _send(self, command: bytes, names: tuple[Arg, ...]) -> None:
        with self._send_lock:
            try:
                self._sock.sendall(_request(command, names))
            except OSError as exc:
                raise ConnectionError(
                    f"connection to {self._client.address} lost ({exc})"
                ) from None

    def subscribe(self, *channels: Arg) -> None:
        """Subscribe to more channels."""
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        self._send(b"SUBSCRIBE", channels)

    def psubscribe(self, *patterns: Arg) -> None:
        """Subscribe to more patterns (Redis's glob syntax: ``user:*``, ``h?llo``, ``[ab]c``)."""
        if not patterns:
            raise ValueError("psubscribe() needs at least one pattern")
        self._send(b"PSUBSCRIBE", patterns)

    def unsubscribe(self, *channels: Arg) -> None:
        """Unsubscribe from ``channels`` (from every channel if none is named)."""
        self._send(b"UNSUBSCRIBE", channels)

    def punsubscribe(self, *patterns: Arg) -> None:
        """Unsubscribe from ``patterns`` (from every pattern if none is named)."""
        self._send(b"PUNSUBSCRIBE", patterns)

    def get_message(self, timeout: float | None = None) -> Message | None:
        """The next message, waiting at most ``timeout`` seconds (None: as long as it takes);
        None if none came in time, or once the subscription is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        core = self._core
        while not self._closed:
            message = core.next_message()
            if message is not None:
                return message
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(READ_SIZE)
            except (TimeoutError, BlockingIOError):
                return None
            except OSError as exc:
                if self._closed:
                    return None
                raise ConnectionError(
                    f"connection to {self._client.address} lost ({exc})"
                ) from None
            if not data and self._closed:
                return None
            core.feed(data)
        return None

    def __iter__(self) -> Iterator[Message]:
        while True:
            message = self.get_message()
            if message is None:
                return
            yield message

    def close(self) -> None:
        """Close the connection (a thread iterating stops); safe to call more than once."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv()
        self._client.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncSubscription:
    """The asyncio subscription: ``await`` its methods, ``async for`` over it; iteration
    ends when it is closed."""

    def __init__(self, client: _AsyncClient) -> None:
        self._client = client
        self._core = _Core(client._core._reader, client.address)
        self._closed = False

    async def _start(self, command: bytes, names: tuple[Arg, ...]) -> AsyncSubscription:
        await self._client.connect()
        self._core = _Core(self._client._core._reader, self._client.address)  # the new one
        await self._send(command, names)
        return self

    async def _send(self, command: bytes, names: tuple[Arg, ...]) -> None:
        connection = self._client._connection
        if connection is None:
            raise ConnectionError("the subscription is closed")
        writer = connection[1]
        try:
            writer.write(_request(command, names))
            await writer.drain()
        except OSError as exc:
            raise _lost(self._client.address, exc) from None

    async def subscribe(self, *channels: Arg) -> None:
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        await self._send(b"SUBSCRIBE", channels)

    async def psubscribe(self, *patterns: Arg) -> None:
        if not patterns:
            raise ValueError("psubscribe() needs at least one pattern")
        await self._send(b"PSUBSCRIBE", patterns)

    async def unsubscribe(self, *channels: Arg) -> None:
        await self._send(b"UNSUBSCRIBE", channels)

    async def punsubscribe(self, *patterns: Arg) -> None:
        await self._send(b"PUNSUBSCRIBE", patterns)

    async def get_message(self, timeout: float | None = None) -> Message | None:
        """The next message, waiting at most ``timeout`` seconds (None: as long as it takes);
        None if none came in time, or once the subscription is closed."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        core = self._core
        while not self._closed:
            message = core.next_message()
            if message is not None:
                return message
            connection = self._client._connection
            if connection is None:
                return None
            read = connection[0].read(READ_SIZE)
            try:
                if deadline is None:
                    data = await read
                else:
                    data = await asyncio.wait_for(read, max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                return None
            except OSError as exc:
                if self._closed:
                    return None
                raise ConnectionError(
                    f"connection to {self._client.address} lost ({exc})"
                ) from None
            if not data and self._closed:
                return None
            core.feed(data)
        return None

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            message = await self.get_message()
            if message is None:
                return
            yield message

    async def close(self) -> None:
        self._closed = True
        await self._client.close()

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
