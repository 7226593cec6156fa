"""What the sync and asyncio clients share apart from moving bytes: arguments, core, address."""

from __future__ import annotations

import contextlib
import copy
import ssl
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from kvstore.client.address import Address, is_url, parse_address, parse_url
from kvstore.client.commands import Commands
from kvstore.client.core import ParserChoice, ProtocolCore
from kvstore.client.errors import ConnectionError
from kvstore.client.tls import client_context

#: What a client holds while connected: a socket, or an asyncio stream pair.
ConnectionT = TypeVar("ConnectionT")
ClientT = TypeVar("ClientT", bound="ClientBase[Any]")


class ClientBase(Commands, Generic[ConnectionT]):
    """The part of a client that does not depend on how it does I/O.

    The arguments are those of :class:`~kvstore.client.sync_client.Client`. Each subclass makes
    its lock in :meth:`_init_lock`, and keeps its connection in ``_connection`` (``None`` when
    not connected).
    """

    def __init__(
        self,
        address: str | Address = "127.0.0.1:5000",
        *,
        db: int | None = None,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = 10.0,
        socket_timeout: float | None = None,
        parser: ParserChoice = "auto",
        tls: bool | ssl.SSLContext = False,
        ca_certs: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        if isinstance(address, str) and is_url(address):
            endpoint = parse_url(address)
            address = endpoint.address
            db = endpoint.db if db is None else db
            username = endpoint.username if username is None else username
            password = endpoint.password if password is None else password
            tls = tls or endpoint.tls
        elif isinstance(address, str):
            address = parse_address(address)
        #: ``None`` for plain TCP; see :func:`~kvstore.client.tls.client_context`.
        self._tls = client_context(tls, ca_certs, certfile, keyfile)
        self._core = ProtocolCore(
            address, parser=parser, username=username, password=password, db=db or 0
        )
        self._core.tls = self._tls is not None
        self._connect_timeout = connect_timeout
        self._socket_timeout = socket_timeout
        self._connection: ConnectionT | None = None
        self._closed = False
        self._init_lock()

    @property
    def db(self) -> int:
        """The database this client selects on connecting (``-n``, or a URL's ``/db``)."""
        return self._core.db

    def _sibling(self: ClientT) -> ClientT:
        """A new client with this one's settings, not connected (a subscription's own)."""
        other = copy.copy(self)
        other._core = copy.copy(self._core)
        other._core.reset()
        other._connection = None
        other._closed = False
        other._init_lock()
        return other

    def _init_lock(self) -> None:
        """Make ``self._lock``, which lets one command at a time use the connection."""
        raise NotImplementedError

    @property
    def address(self) -> Address:
        return self._core.address

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def _must_connect(self) -> bool:
        """Whether a command has to connect first; refuses once the client is closed."""
        if self._connection is not None:
            return False
        if self._closed:
            raise ConnectionError("the client is closed")
        return True

    @contextlib.contextmanager
    def _dropped_on_failure(self) -> Iterator[None]:
        """Around an exchange: a failure drops the connection, as no one knows which replies
        are still due on it, and is raised as the library's exception for it."""
        try:
            yield
        except BaseException as exc:
            self._drop()
            error = self._core.io_error(exc, self._socket_timeout)
            if error is exc:
                raise
            raise error from None

    def _drop(self) -> object:
        """Close the connection, if any, and forget it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"
