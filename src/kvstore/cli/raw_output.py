"""Replies printed as ``redis-cli`` prints them when its output is not a terminal.

redis-cli 7's raw format, checked against the real program: a string or status as its bytes,
an integer in decimal, nil as nothing, an error as its message and a newline, RESP3 booleans as
``(true)``/``(false)``, aggregates one element per line (nested ones flattened), map entries as
``key value``; the whole reply is followed by one newline.
"""

from __future__ import annotations

from typing import Any

from kvstore.client import ResponseError
from kvstore.protocol import ReplyError
from kvstore.protocol.resp_replies import format_float


def format_reply(reply: Any) -> bytes:
    """The bytes redis-cli writes for ``reply``, the final newline included."""
    return _format(reply) + b"\n"


def _format(reply: Any) -> bytes:
    if isinstance(reply, bytes):
        return reply
    if reply is None:
        return b""
    if isinstance(reply, bool):  # before int: a bool is an int
        return b"(true)" if reply else b"(false)"
    if isinstance(reply, int):
        return b"%d" % reply
    if isinstance(reply, float):
        return format_float(reply)
    if isinstance(reply, (ReplyError, ResponseError)):
        return reply.message.encode("utf-8", "replace") + b"\n"
    if isinstance(reply, dict):
        return b"\n".join(_format(key) + b" " + _format(value) for key, value in reply.items())
    if isinstance(reply, (list, set, tuple)):
        return b"\n".join(_format(item) for item in reply)
    return str(reply).encode("utf-8", "replace")
