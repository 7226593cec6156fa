"""The blocking client: the shared core driven over a socket."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any, TypeVar

from kvstore.client.address import Address, parse_address
from kvstore.client.calls import Call
from kvstore.client.commands import Commands
from kvstore.client.core import (
    READ_SIZE,
    Exchange,
    ParserChoice,
    ProtocolCore,
    only_result,
    raise_first_error,
)
from kvstore.client.errors import ConnectionError
from kvstore.client.pipeline import PipelineBase

T = TypeVar("T")


class Client(Commands):
    """A blocking connection to a kvstore (or Redis) server.

    ``Client("127.0.0.1:5000")``; the address may also be ``host``, ``[ipv6]:port`` or a bare
    IPv6 literal (port 5000 by default). It connects on first use (or on ``with``), and again
    after a failure broke the connection; the command that failed is not retried. After
    :meth:`close` it refuses further commands. One client may be shared by threads: commands
    run one at a time.

    ``password`` (and ``username``) are sent with ``AUTH`` on every connect.
    ``connect_timeout`` and ``socket_timeout`` are in seconds, ``None`` for no limit.
    ``parser`` picks the reply parser: ``"auto"`` (hiredis when installed), ``"hiredis"`` or
    ``"python"``.
    """

    def __init__(
        self,
        address: str | Address = "127.0.0.1:5000",
        *,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = 10.0,
        socket_timeout: float | None = None,
        parser: ParserChoice = "auto",
    ) -> None:
        if isinstance(address, str):
            address = parse_address(address)
        self._core = ProtocolCore(address, parser=parser, username=username, password=password)
        self._connect_timeout = connect_timeout
        self._socket_timeout = socket_timeout
        self._sock: socket.socket | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def address(self) -> Address:
        return self._core.address

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Connect now (commands connect by themselves when needed)."""
        with self._lock:
            self._connected()

    def close(self) -> None:
        """Close the connection; the client cannot be used afterwards.

        Safe to call from another thread: a command blocked on the socket fails at once with
        :class:`~kvstore.client.errors.ConnectionError`.
        """
        self._closed = True
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv()
        self._drop()

    def pipeline(self) -> Pipeline:
        """A pipeline: queue commands, then send them in one write with ``execute()``."""
        return Pipeline(self)

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"

    # -- running calls -----------------------------------------------------------------------

    def _run_call(self, call: Call[T]) -> T:
        result: T = only_result(self._run_calls([call]))
        return result

    def _run_calls(self, calls: list[Call[Any]]) -> list[Any]:
        with self._lock:
            self._connected()
            return self._drive(self._core.exchange(calls))

    def _connected(self) -> None:
        if self._sock is not None:
            return
        if self._closed:
            raise ConnectionError("the client is closed")
        address = self._core.address
        try:
            sock = socket.create_connection(
                (address.host, address.port), timeout=self._connect_timeout
            )
        except OSError as exc:
            raise self._core.connect_error(exc) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._socket_timeout)
        self._sock = sock
        self._core.reset()
        self._drive(self._core.handshake())

    def _drive(self, exchange: Exchange[T]) -> T:
        sock = self._sock
        assert sock is not None
        try:
            step = next(exchange)
            while True:
                if step is None:
                    step = exchange.send(sock.recv(READ_SIZE))
                else:
                    sock.sendall(step)
                    step = exchange.send(b"")
        except StopIteration as done:
            result: T = done.value
            return result
        except BaseException as exc:
            self._drop()
            error = self._core.io_error(exc, self._socket_timeout)
            if error is exc:
                raise
            raise error from None

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class Pipeline(PipelineBase):
    """Commands queued for one round trip on a :class:`Client`; see :meth:`execute`."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self._client = client

    def execute(self, *, raise_on_error: bool = True) -> list[Any]:
        """Send the queued calls in one write and return their results, in order.

        With ``raise_on_error`` the first error reply raises once every reply is read;
        without, it stands in the list as a ``ResponseError``. The queue is emptied either way.
        """
        calls = self._take()
        if not calls:
            return []
        results = self._client._run_calls(calls)
        if raise_on_error:
            raise_first_error(results)
        return results
