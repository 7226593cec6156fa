"""Protected mode: with no password set, only clients on the loopback interface are served.

A server bound to a public address with no password is an open database; protected mode turns
every other client away with one error line that names the two fixes. The decision is a pure
function of the peer's address; the log of refusals is rate-limited, so a scan of the port
cannot flood it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable

from kvstore.protocol import RequestLimits
from kvstore.protocol.resp_requests import UNAUTHENTICATED_LIMITS

log = logging.getLogger("kvstore.server")

#: Sent (as a RESP error line, readable in ``nc`` too) before the connection is closed.
DENIED = (
    b"-DENIED kvstore is running in protected mode: no password is set, so only clients on "
    b"the loopback interface are served. Either set a password (--requirepass or "
    b"KVSTORE_PASSWORD) and give it when connecting, or start the server with "
    b"--protected-mode no if every host that can reach it is trusted.\r\n"
)
#: At most one log line about refused clients per this many seconds.
LOG_INTERVAL_SECONDS = 60.0


def limits_before_auth(limits: RequestLimits) -> RequestLimits:
    """``limits`` tightened for a client that has not authenticated yet (Redis's limits for
    unauthenticated clients), so a client without the password cannot make the server buffer
    large requests."""
    return dataclasses.replace(
        limits,
        max_args=min(limits.max_args, UNAUTHENTICATED_LIMITS.max_args),
        max_bulk_len=min(limits.max_bulk_len, UNAUTHENTICATED_LIMITS.max_bulk_len),
        max_query_buffer=min(limits.max_query_buffer, UNAUTHENTICATED_LIMITS.max_query_buffer),
        unauthenticated=True,
    )


def is_loopback_peer(peername: object) -> bool:
    """Whether a socket's peer address (``getpeername()``) is on the loopback interface.

    IPv4-mapped IPv6 addresses count by their IPv4 part. Anything that is not an IP address
    (a Unix socket's peer) is local.
    """
    if not isinstance(peername, tuple) or not peername:
        return True
    host = str(peername[0]).split("%", 1)[0]  # drop an IPv6 zone
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_protected(protected_mode: bool, has_password: bool) -> bool:
    """Whether non-loopback clients are turned away: protected mode on and no password."""
    return protected_mode and not has_password


class RefusalLog:
    """Logs refused clients: the first at once, then a count at most once per interval."""

    def __init__(
        self,
        interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._next_log = float("-inf")
        self._unlogged = 0

    def refused(self, peer: str) -> None:
        now = self._clock()
        if now < self._next_log:
            self._unlogged += 1
            return
        more = f" (and {self._unlogged} more since the last report)" if self._unlogged else ""
        log.warning(
            "protected mode: refused %s%s: no password is set and the client is not on the "
            "loopback interface; set --requirepass, or --protected-mode no",
            peer,
            more,
        )
        self._unlogged = 0
        self._next_log = now + self._interval


class Admission:
    """Protected mode as the connections apply it, on the server's side of each new one.

    ``protected`` changes at run time (CONFIG SET requirepass or protected-mode);
    ``is_loopback`` is the decision, replaceable in tests that cannot reach a non-loopback
    address.
    """

    def __init__(self, protected: bool) -> None:
        self.protected = protected
        self.is_loopback: Callable[[object], bool] = is_loopback_peer
        self.refusals = RefusalLog()

    def refuses(self, peername: object, addr: str) -> bool:
        """Whether a client connecting from ``peername`` is turned away (and logged so)."""
        if self.protected and not self.is_loopback(peername):
            self.refusals.refused(addr)
            return True
        return False
