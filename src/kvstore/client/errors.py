"""The library's exceptions, and the table that maps an error reply's code to its class.

Every exception the library raises on purpose derives from :class:`KvstoreError`. Connection
and timeout failures also derive from the builtins of the same name, so code that already
catches ``OSError`` (or ``ConnectionError``/``TimeoutError``) keeps working.
"""

from __future__ import annotations

import builtins


class KvstoreError(Exception):
    """Base class of every error the library raises."""


class ConnectionError(KvstoreError, builtins.ConnectionError):
    """The server cannot be reached, or the connection was lost mid-command."""


class TimeoutError(KvstoreError, builtins.TimeoutError):
    """Connecting, sending or waiting for a reply took longer than the configured timeout."""


class ProtocolError(KvstoreError):
    """The server sent bytes that are not valid RESP, or a reply of an unexpected type."""


class ResponseError(KvstoreError):
    """The server answered with an error reply.

    ``message`` is the reply's text as sent, code included (``ERR syntax error``); ``code`` is
    its first word (``ERR``, ``WRONGTYPE``...).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return self.message.split(" ", 1)[0]


class AuthenticationRequiredError(ResponseError):
    """``NOAUTH``: the server wants a password before anything else."""


class AuthenticationError(ResponseError):
    """``WRONGPASS``: the user name or password was refused."""


class WrongTypeError(ResponseError):
    """``WRONGTYPE``: the command does not apply to the kind of value the key holds."""


class OutOfMemoryError(ResponseError):
    """``OOM``: the server refused a write because it is over its memory limit."""


class MisconfigurationError(ResponseError):
    """``MISCONF``: the server refuses writes because it cannot persist them."""


class ExecAbortError(ResponseError):
    """``EXECABORT``: a transaction was discarded because a queued command was invalid."""


class UnsupportedProtocolError(ResponseError):
    """``NOPROTO``: the server does not speak the RESP version asked for with ``HELLO``."""


class ReadOnlyError(ResponseError):
    """``READONLY``: a write was sent to a read-only server (a replica)."""


class BusyError(ResponseError):
    """``BUSY``: the server is running a script and cannot serve the command."""


#: Error code (the reply's first word) to the class raised for it; any other code raises a
#: plain :class:`ResponseError`.
RESPONSE_ERRORS: dict[str, type[ResponseError]] = {
    "NOAUTH": AuthenticationRequiredError,
    "WRONGPASS": AuthenticationError,
    "WRONGTYPE": WrongTypeError,
    "OOM": OutOfMemoryError,
    "MISCONF": MisconfigurationError,
    "EXECABORT": ExecAbortError,
    "NOPROTO": UnsupportedProtocolError,
    "READONLY": ReadOnlyError,
    "BUSY": BusyError,
}


def response_error(message: str) -> ResponseError:
    """The exception for an error reply whose text is ``message``."""
    code = message.split(" ", 1)[0]
    return RESPONSE_ERRORS.get(code, ResponseError)(message)
