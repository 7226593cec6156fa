"""The Python library: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both share one command layer (:mod:`kvstore.client.commands`) and one sans-I/O protocol core
(:mod:`kvstore.client.core`); they differ only in how bytes move.
"""

from kvstore.client.address import (
    DEFAULT_PORT,
    Address,
    AddressError,
    Endpoint,
    parse_address,
    parse_url,
)
from kvstore.client.async_client import AsyncClient, AsyncPipeline
from kvstore.client.cluster_client import AsyncClusterClient, ClusterClient
from kvstore.client.cluster_core import ClusterError
from kvstore.client.errors import (
    RESPONSE_ERRORS,
    AuthenticationError,
    AuthenticationRequiredError,
    BusyError,
    ConnectionError,
    ExecAbortError,
    KvstoreError,
    MisconfigurationError,
    OutOfMemoryError,
    ProtocolError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
    UnsupportedProtocolError,
    WrongTypeError,
)
from kvstore.client.pubsub import AsyncSubscription, Message, Subscription
from kvstore.client.sync_client import Client, Pipeline

__all__ = [
    "DEFAULT_PORT",
    "RESPONSE_ERRORS",
    "Address",
    "AddressError",
    "AsyncClient",
    "AsyncClusterClient",
    "AsyncPipeline",
    "AsyncSubscription",
    "AuthenticationError",
    "AuthenticationRequiredError",
    "BusyError",
    "Client",
    "ClusterClient",
    "ClusterError",
    "ConnectionError",
    "Endpoint",
    "ExecAbortError",
    "KvstoreError",
    "Message",
    "MisconfigurationError",
    "OutOfMemoryError",
    "Pipeline",
    "ProtocolError",
    "ReadOnlyError",
    "ResponseError",
    "Subscription",
    "TimeoutError",
    "UnsupportedProtocolError",
    "WrongTypeError",
    "parse_address",
    "parse_url",
]
