"""``./client <node> watch PATTERN``: print each change to the keys matching PATTERN as it
happens, one line per event (``set user:1``, ``del user:1``, ``expired session:9``), like
``etcdctl watch --prefix``.

It listens to the server's keyspace notifications (``__keyspace@<db>__:<key>`` channels, for
the database the client selects: ``-n`` or a URL's ``/db``), which are off by default; it does
not turn them on (that is a setting of the server, for every client) but says how. Values are
not printed: an event says what happened to a key, and a value read afterwards could already be
a later one's. It runs until interrupted (Ctrl-C: exit 130; SIGTERM: exit 0) or until the server
goes away (an error line, exit 2).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import BinaryIO

from kvstore.client import Client
from kvstore.config.events import ALL, KEYSPACE, parse_flags

NOTIFICATIONS_OFF = (
    "keyspace notifications are off on this server: enable them with "
    "`CONFIG SET notify-keyspace-events KA` (or start it with --notify-keyspace-events KA)"
)


def channel_prefix(db: int) -> bytes:
    """The keyspace-notification channels' prefix for database ``db``."""
    return b"__keyspace@%d__:" % db


class TerminatedError(Exception):
    """SIGTERM arrived: stop watching, successfully."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise TerminatedError


def watch(client: Client, pattern: bytes, out: BinaryIO) -> str | None:
    """Print the events on keys matching ``pattern`` until stopped; None when stopped by
    SIGTERM, or a reason the watch cannot start (errors on the way are raised)."""
    reply = client.execute_command("CONFIG", "GET", "notify-keyspace-events")
    current = reply[1].decode() if isinstance(reply, list) and len(reply) == 2 else ""
    try:
        flags = parse_flags(current)
    except ValueError:
        flags = 0
    if not flags & KEYSPACE or not flags & ALL:
        return NOTIFICATIONS_OFF
    prefix = channel_prefix(client.db)
    previous = signal.signal(signal.SIGTERM, _stop)
    subscription = client.psubscribe(prefix + pattern)
    try:
        for message in subscription:
            out.write(message.data + b" " + message.channel[len(prefix) :] + b"\n")
            out.flush()
    except TerminatedError:
        return None
    finally:
        subscription.close()
        signal.signal(signal.SIGTERM, previous)
    return None


def watch_stdout(client: Client, pattern: bytes) -> str | None:
    return watch(client, pattern, sys.stdout.buffer)
