"""The sans-I/O core shared by the sync and the asyncio client.

Everything about a connection except moving bytes lives here: choosing the reply parser,
encoding requests, the handshake, matching replies to calls and mapping error replies and
failures to the library's exceptions. Each exchange with the server is a generator that yields
what it needs from its driver (see :data:`Exchange`); the two clients differ only in the few
lines that drive it over a socket or an asyncio stream.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Generator, Sequence
from typing import Any, Literal, TypeAlias, TypeVar

from kvstore.build import HiredisMissingError
from kvstore.build import use_hiredis as hiredis_chosen
from kvstore.client.address import Address
from kvstore.client.calls import Call, encode_arg, raw
from kvstore.client.errors import (
    ConnectionError,
    KvstoreError,
    ProtocolError,
    ResponseError,
    TimeoutError,
    response_error,
)
from kvstore.client.tls import tls_reason
from kvstore.protocol import ProtocolError as CodecError
from kvstore.protocol import ReplyError, encode_request, make_reply_parser
from kvstore.protocol.resp_replies import INCOMPLETE, ReplyDecoder

T = TypeVar("T")

#: A conversation with the server, written once for both clients. It yields ``bytes`` to send
#: (the driver sends them, then resumes it with ``b""``) or ``None`` when it needs input (the
#: driver resumes it with the bytes received, ``b""`` at end of stream); it returns its result.
Exchange: TypeAlias = Generator[bytes | None, bytes, T]

#: The reply parser: hiredis when importable (``"auto"``), or one of them by name.
ParserChoice: TypeAlias = Literal["auto", "hiredis", "python"]

#: How many bytes a driver asks for per read.
READ_SIZE = 64 * 1024


def use_hiredis(parser: ParserChoice) -> bool:
    """Whether the ``parser`` choice means hiredis (decided as for the server); ValueError for
    a choice that cannot be honoured."""
    try:
        return hiredis_chosen(parser)
    except HiredisMissingError:
        raise ValueError("parser='hiredis': the hiredis package is not installed") from None


class ProtocolCore:
    """One connection's protocol state, with no I/O: the drivers feed it bytes."""

    def __init__(
        self,
        address: Address,
        *,
        parser: ParserChoice = "auto",
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
    ) -> None:
        self.address = address
        #: The database every connection selects after authenticating (SELECT).
        self.db = db
        self.hiredis = use_hiredis(parser)
        self._username = username
        self._password = password
        self._reader: ReplyDecoder = make_reply_parser(use_hiredis=self.hiredis)
        #: Whether the connection is TLS, and whether it has carried a reply yet: together they
        #: explain a server that hangs up at once (it wanted a client certificate).
        self.tls = False
        self._answered = False

    def reset(self) -> None:
        """Start afresh on a new connection: bytes left from a broken one mean nothing."""
        self._reader = make_reply_parser(use_hiredis=self.hiredis)
        self._answered = False

    def handshake(self) -> Exchange[None]:
        """What a new connection sends before any command: ``AUTH`` when there is a password,
        ``SELECT`` when the database is not 0."""
        requests: list[list[str | int]] = []
        if self._password is not None:
            requests.append(
                ["AUTH", self._password]
                if self._username is None
                else ["AUTH", self._username, self._password]
            )
        if self.db:
            requests.append(["SELECT", self.db])
        if not requests:
            return
        calls = [Call(tuple(encode_arg(arg) for arg in args), raw) for args in requests]
        raise_first_error((yield from self.exchange(calls)))

    def exchange(self, calls: Sequence[Call[Any]]) -> Exchange[list[Any]]:
        """Send ``calls`` in one write and read one reply per call.

        Returns each call's result, or for an error reply the :class:`ResponseError` for it (not
        raised: the caller decides, so a pipeline still reads every reply).
        """
        yield b"".join([encode_request(call.args) for call in calls])
        reader = self._reader
        replies: list[Any] = []
        try:
            while len(replies) < len(calls):
                reply = reader.gets()
                if reply is INCOMPLETE:
                    data = yield None
                    if not data:
                        raise self._closed_error()
                    reader.feed(data)
                    self._answered = True
                else:
                    replies.append(reply)
        except CodecError as exc:
            raise ProtocolError(f"invalid reply from {self.address}: {exc.message}") from None
        return [result(call, reply) for call, reply in zip(calls, replies, strict=True)]

    # -- failures ----------------------------------------------------------------------------

    def _closed_error(self) -> ConnectionError:
        if self.tls and not self._answered:
            return ConnectionError(
                f"connection to {self.address} closed by the server before any reply (over "
                "TLS this usually means it wants a client certificate it trusts: give one with "
                "certfile/keyfile, --cert/--key)"
            )
        return ConnectionError(f"connection to {self.address} lost (closed by the server)")

    def connect_error(self, exc: BaseException) -> KvstoreError:
        """The exception to raise when connecting failed with ``exc``."""
        if isinstance(exc, KvstoreError):
            return exc
        if _is_timeout(exc):
            return TimeoutError(f"cannot connect to {self.address} (timed out)")
        return ConnectionError(f"cannot connect to {self.address} ({_reason(exc)})")

    def io_error(self, exc: BaseException, timeout: float | None) -> BaseException:
        """The exception to raise when an exchange failed with ``exc``; the connection is
        then dropped, as no one knows which replies are still due on it."""
        if isinstance(exc, KvstoreError):
            return exc
        if _is_timeout(exc):
            return TimeoutError(f"no reply from {self.address} within {timeout:g} s")
        if isinstance(exc, OSError):
            return ConnectionError(f"connection to {self.address} lost ({_reason(exc)})")
        return exc  # KeyboardInterrupt, cancellation, bugs: not the library's to rename


def result(call: Call[T], reply: Any) -> T | ResponseError:
    """The call's result for ``reply``, or the exception an error reply stands for."""
    if isinstance(reply, ReplyError):
        return response_error(reply.message)
    return call.convert(reply)


def raise_first_error(results: list[Any]) -> None:
    """Raise the first :class:`ResponseError` among ``results``, if any."""
    for item in results:
        if isinstance(item, ResponseError):
            raise item


def only_result(results: list[Any]) -> Any:
    """The result of a one-call exchange, raising its error reply."""
    (item,) = results
    if isinstance(item, ResponseError):
        raise item
    return item


def _is_timeout(exc: BaseException) -> bool:
    # asyncio.TimeoutError is the builtin only from Python 3.11 on.
    return isinstance(exc, (builtins.TimeoutError, asyncio.TimeoutError))


def _reason(exc: BaseException) -> str:
    return tls_reason(exc)  # plain socket errors included
