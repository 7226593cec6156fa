"""The listening sockets, bound first: a port in use stops the start before anything else
(the data directory included) is touched. The server accepts on them once it is assembled."""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass

from kvstore.config import ServerConfig

BACKLOG = 4096


class StartupError(Exception):
    """The server cannot start (an address in use, say); the message is one line."""


@dataclass(frozen=True)
class Listener:
    sock: socket.socket
    #: The TLS context for a ``--tls-port`` socket; None for the plain port.
    tls: ssl.SSLContext | None

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listeners(config: ServerConfig, tls: ssl.SSLContext | None) -> list[Listener]:
    """Bind every address of ``--bind`` on the plain port (unless ``--port 0``) and, with
    ``tls``, on the TLS port; StartupError (with nothing left open) if one cannot be."""
    listeners: list[Listener] = []
    try:
        for host in config.bind:
            if config.port:
                listeners += [Listener(sock, None) for sock in _bind(host, config.port)]
            if tls is not None:
                listeners += [Listener(sock, tls) for sock in _bind(host, config.tls_port)]
    except StartupError:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners: list[Listener]) -> None:
    for listener in listeners:
        listener.sock.close()


def _bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to, as asyncio's would be."""
    bound: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in bound:
            sock.close()
        reason = (
            "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        )
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
    return bound
