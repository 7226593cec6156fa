"""kvstore: a remote in-memory key/value store speaking RESP and a text line protocol.

The client library is importable from here::

    import kvstore

    with kvstore.Client("127.0.0.1:5000") as client:
        client.set("norway", "oslo")
"""

# ruff: noqa: F405 - __all__ names the library's classes, seen by type checkers through the
# star import below and loaded by __getattr__ on first use.

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # the names below, as the library defines them
    from kvstore.client import *  # noqa: F403


def __getattr__(name: str) -> Any:
    # The library is loaded on first use, so that the server, which lives in this package
    # too, does not load the client when it starts: hence the names are listed here, not
    # read from kvstore.client.__all__ (every one of them is there: a test checks it).
    if name in __all__:
        import kvstore.client  # noqa: PLC0415

        return getattr(kvstore.client, name)
    raise AttributeError(f"module 'kvstore' has no attribute {name!r}")


__all__ = [
    "AsyncClient",
    "AsyncClusterClient",
    "AsyncPipeline",
    "AuthenticationError",
    "AuthenticationRequiredError",
    "BusyError",
    "Client",
    "ClusterClient",
    "ClusterError",
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
