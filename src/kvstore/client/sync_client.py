"""The blocking client: the shared core driven over a socket."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, TypeVar

from kvstore.client.base import ClientBase
from kvstore.client.calls import Arg, Call
from kvstore.client.core import (
    READ_SIZE,
    Exchange,
    only_result,
    raise_first_error,
)
from kvstore.client.pipeline import PipelineBase, RunsBatches
from kvstore.client.pubsub import Subscription

T = TypeVar("T")


class Client(ClientBase[socket.socket]):
    """A blocking connection to a kvstore (or Redis) server.

    ``Client("127.0.0.1:5000")``; the address may also be ``host``, ``[ipv6]:port`` or a bare
    IPv6 literal (port 5000 by default). It connects on first use (or on ``with``), and again
    after a failure broke the connection; the command that failed is not retried. After
    :meth:`close` it refuses further commands. One client may be shared by threads: commands
    run one at a time.

    ``password`` (and ``username``) are sent with ``AUTH`` on every connect.
    ``connect_timeout`` and ``socket_timeout`` are in seconds, ``None`` for no limit.
    ``parser`` picks the reply parser: ``"auto"`` (hiredis when installed), ``"hiredis"`` or
    ``"python"``. ``tls=True`` connects over TLS, verifying the server's certificate against
    ``ca_certs`` (or the system's CAs); ``certfile``/``keyfile`` are the client's certificate
    for servers that require one; ``tls`` may also be a ready ``ssl.SSLContext``.
    """

    def _init_lock(self) -> None:
        self._lock = threading.Lock()

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
        sock = self._connection
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv()
        self._drop()

    def pipeline(self) -> Pipeline:
        """A pipeline: queue commands, then send them in one write with ``execute()``."""
        return Pipeline(self)

    def subscribe(self, *channels: Arg) -> Subscription:
        """Subscribe to ``channels`` on a new connection: iterate over the
        :class:`~kvstore.client.pubsub.Subscription` returned for the messages."""
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        subscription = Subscription(self._sibling())
        subscription.subscribe(*channels)
        return subscription

    def psubscribe(self, *patterns: Arg) -> Subscription:
        """Subscribe to channels matching ``patterns`` (``user:*``) on a new connection."""
        if not patterns:
            raise ValueError("psubscribe() needs at least one pattern")
        subscription = Subscription(self._sibling())
        subscription.psubscribe(*patterns)
        return subscription

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- running calls -----------------------------------------------------------------------

    def _run_call(self, call: Call[T]) -> T:
        result: T = only_result(self._run_calls([call]))
        return result

    def _run_calls(self, calls: list[Call[Any]]) -> list[Any]:
        with self._lock:
            self._connected()
            return self._drive(self._core.exchange(calls))

    def _connected(self) -> None:
        if not self._must_connect():
            return
        address = self._core.address
        try:
            sock = socket.create_connection(
                (address.host, address.port), timeout=self._connect_timeout
            )
            if self._tls is not None:
                sock = self._wrapped(sock, address.host)
        except OSError as exc:
            raise self._core.connect_error(exc) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._socket_timeout)
        self._connection = sock
        self._core.reset()
        self._drive(self._core.handshake())

    def _wrapped(self, sock: socket.socket, host: str) -> socket.socket:
        """``sock`` after the TLS handshake (within the connect timeout); closed on failure."""
        assert self._tls is not None
        try:
            return self._tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    def _drive(self, exchange: Exchange[T]) -> T:
        sock = self._connection
        assert sock is not None
        with self._dropped_on_failure():
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

    def _drop(self) -> None:
        sock, self._connection = self._connection, None
        if sock is not None:
            sock.close()


class Pipeline(PipelineBase):
    """Commands queued for one round trip on a :class:`Client` (one per node on a
    :class:`~kvstore.ClusterClient`); see :meth:`execute`."""

    def __init__(self, client: RunsBatches) -> None:
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
