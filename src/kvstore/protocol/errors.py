"""Errors raised by the codecs."""

from __future__ import annotations


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid frame; the connection cannot continue.

    ``message`` is the text sent to the peer before closing, in Redis's words where Redis has
    any (``Protocol error: invalid bulk length``).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
