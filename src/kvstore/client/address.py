"""Server addresses as people write them: ``host``, ``host:port``, ``[ipv6]:port``, ``::1``,
and Redis URLs: ``redis://[[user]:password@]host[:port][/db]`` (``rediss://`` for TLS).

The library and the command-line client both parse addresses here, so they accept the same
forms and word their errors the same way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 5000


class AddressError(ValueError):
    """Text that is not a server address; the message is one line for the user."""


@dataclass(frozen=True)
class Address:
    """A server's host name or IP literal, and its TCP port."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        # An IPv6 literal needs brackets, or its colons would swallow the port.
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_port(text: str) -> int:
    """A TCP port number to connect to: decimal, 1 to 65535."""
    if not (text.isascii() and text.isdigit()):
        raise AddressError(f"invalid port {text!r}: expected a number from 1 to 65535")
    port = int(text)
    if not 1 <= port <= 65535:
        raise AddressError(f"invalid port {text!r}: expected a number from 1 to 65535")
    return port


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """Parse ``host``, ``host:port``, ``[ipv6]``, ``[ipv6]:port`` or a bare IPv6 literal."""
    if not text or text != text.strip():
        raise AddressError(f"invalid address {text!r}: expected host, host:port or [ipv6]:port")
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise AddressError(f"invalid address {text!r}: expected [ipv6] or [ipv6]:port")
        host = _ipv6_literal(inside, text)
        return Address(host, parse_port(rest[1:]) if rest else default_port)
    if text.count(":") > 1:  # only an IPv6 literal has several colons
        return Address(_ipv6_literal(text, text), default_port)
    host, colon, port = text.partition(":")
    if not host:
        raise AddressError(f"invalid address {text!r}: the host is missing")
    return Address(host, parse_port(port) if colon else default_port)


def _ipv6_literal(host: str, text: str) -> str:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise AddressError(f"invalid address {text!r}: {host!r} is not an IPv6 address") from None
    return host


@dataclass(frozen=True)
class Endpoint:
    """What a Redis URL says: where, which database, as whom, and whether over TLS."""

    address: Address
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False


def is_url(text: str) -> bool:
    return text.startswith(("redis://", "rediss://"))


def parse_url(text: str, default_port: int = DEFAULT_PORT) -> Endpoint:
    """Parse ``redis://[[user]:password@]host[:port][/db]`` (``rediss://``: TLS), as Redis
    clients read them; the database may also be given as ``?db=n``."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"invalid URL {text!r}: {exc}") from None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise AddressError(f"invalid URL {text!r}: expected redis://host[:port][/db]")
    number = parts.path.strip("/")
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if name == "db" and not number:
            number = value
    if number and not (number.isascii() and number.isdigit()):
        raise AddressError(f"invalid URL {text!r}: the database {number!r} is not a number")
    host = parts.hostname
    if ":" in host:
        host = _ipv6_literal(host, text)
    return Endpoint(
        Address(host, port if port else default_port),
        int(number) if number else 0,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
        parts.scheme == "rediss",
    )
