"""kvstore: a remote in-memory key/value store speaking RESP and a text line protocol.

The client library is importable from here::

    import kvstore

    with kvstore.Client("127.0.0.1:5000") as client:
        client.set("norway", "oslo")
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kvstore.client import (
        AsyncClient,
        AsyncPipeline,
        AuthenticationError,
        AuthenticationRequiredError,
        BusyError,
        Client,
        ConnectionError,
        ExecAbortError,
        KvstoreError,
        MisconfigurationError,
        OutOfMemoryError,
        Pipeline,
        ProtocolError,
        ReadOnlyError,
        ResponseError,
        TimeoutError,
        UnsupportedProtocolError,
        WrongTypeError,
    )


def __getattr__(name: str) -> Any:
    # The library is loaded on first use, so that the server, which lives in this package
    # too, does not load the client when it starts.
    if name in __all__:
        import kvstore.client  # noqa: PLC0415

        return getattr(kvstore.client, name)
    raise AttributeError(f"module 'kvstore' has no attribute {name!r}")


__all__ = [
    "AsyncClient",
    "AsyncPipeline",
    "AuthenticationError",
    "AuthenticationRequiredError",
    "BusyError",
    "Client",
    "ConnectionError",
    "ExecAbortError",
    "KvstoreError",
    "MisconfigurationError",
    "OutOfMemoryError",
    "Pipeline",
    "ProtocolError",
    "ReadOnlyError",
    "ResponseError",
    "TimeoutError",
    "UnsupportedProtocolError",
    "WrongTypeError",
    "__version__",
]
