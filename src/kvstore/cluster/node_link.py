"""A blocking RESP connection from the admin command to one kvstore node.

``kvstore-cluster`` sits in the cluster layer, beneath the client library, so it speaks to
the nodes with the protocol layer's encoder and reply parser directly: one request, one reply.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from kvstore.protocol import encode_request
from kvstore.protocol.replies import ReplyError
from kvstore.protocol.resp_replies import INCOMPLETE, ReplyParser


class NodeError(Exception):
    """A node could not be reached, or answered with an error; the message says which."""


class NodeLink:
    """One connection to ``host``:``port``; ``call`` sends a command and returns its reply
    (an error reply raises NodeError)."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.address = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise NodeError(f"cannot connect to {self.address}: {exc}") from None
        self._parser = ReplyParser()

    def call(self, *args: bytes | str | int) -> Any:
        return self.pipeline([args])[0]

    def pipeline(self, commands: Sequence[Sequence[bytes | str | int]]) -> list[Any]:
        """Send ``commands`` at once, then read their replies (one round trip)."""
        requests = [
            encode_request([arg if isinstance(arg, bytes) else str(arg).encode() for arg in args])
            for args in commands
        ]
        replies: list[Any] = []
        try:
            self._sock.sendall(b"".join(requests))
            while len(replies) < len(requests):
                reply = self._parser.gets()
                if reply is INCOMPLETE:
                    chunk = self._sock.recv(1 << 16)
                    if not chunk:
                        raise NodeError(f"{self.address} closed the connection")
                    self._parser.feed(chunk)
                    continue
                replies.append(reply)
        except OSError as exc:
            raise NodeError(f"{self.address}: {exc}") from None
        for args, reply in zip(commands, replies, strict=True):
            if isinstance(reply, ReplyError):
                raise NodeError(f"{self.address} answered {args[0]!s}: {reply}")
        return replies

    def close(self) -> None:
        self._sock.close()
