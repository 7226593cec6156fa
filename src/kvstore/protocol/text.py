"""The text line protocol: one request per line, one reply per request.

This is the protocol of the socket-programming assignment (``put``/``get``/``del``/``Bye``)
plus the coding task's ``set``, and any other command typed as words. This module is shared by
the server (which reads lines and renders replies) and the interactive client (which turns typed
lines into commands and shows replies the same way).

Framing: a request ends at ``\\n``. The reply carries no terminator when the request ended in a
bare ``\\n`` (the assignment's client prints whatever one ``read()`` returns), and ends in
``\\r\\n`` when the request did (telnet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kvstore.protocol.errors import ProtocolError
from kvstore.protocol.replies import NilArray, Reply, ReplyError, Status

#: Longest request line, terminator excluded.
MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class Line:
    text: bytes
    crlf: bool  # the line ended in "\r\n": the reply must too


class LineParser:
    """Split a byte stream into lines, refusing any line longer than :data:`MAX_LINE`."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.error: ProtocolError | None = None
        self._buffer = b""

    def feed(self, data: bytes) -> list[Line]:
        if self.error is not None:
            return []
        buffer = self._buffer + data if self._buffer else data
        lines: list[Line] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            crlf = end > start and buffer[end - 1] == 0x0D
            text = buffer[start : end - 1 if crlf else end]
            if len(text) > self.max_line:
                self.error = ProtocolError("request too long")
                self._buffer = b""
                return lines
            lines.append(Line(text, crlf))
            start = end + 1
        self._buffer = buffer[start:]
        if len(self._buffer) > self.max_line + 1:  # +1: room for the "\r" of a "\r\n"
            self.error = ProtocolError("request too long")
            self._buffer = b""
        return lines


# ---------------------------------------------------------------------------------------------
# The documents' verbs, mapped onto the command table, and replies rendered as plain text.

Render = Callable[[Reply], Reply]


def _keep(reply: Reply) -> Reply:
    return reply


def _stored_unless_nil(reply: Reply) -> Reply:
    return Status("Key already exists") if reply is None else reply


def _found_unless_nil(reply: Reply) -> Reply:
    return Status("Key not found") if reply is None else reply


def _deleted_or_missing(reply: Reply) -> Reply:
    if reply == 0:
        return Status("Key not found")
    if isinstance(reply, int):
        return Status("OK")
    return reply


def _auth_result(reply: Reply) -> Reply:
    if isinstance(reply, ReplyError) and reply.code == "WRONGPASS":
        return ReplyError("ERR invalid password")
    return reply


@dataclass(frozen=True)
class TextRequest:
    """A request line turned into command arguments, with the rendering its verb asks for."""

    args: list[bytes]
    render: Render = _keep
    goodbye: bool = False  # the session ends after this reply


class TextRequestError(Exception):
    """A line that cannot become a command (empty, or the wrong number of words)."""


GOODBYE = Status("Goodbye")
_VALUE_VERBS = {b"put": b"NX", b"set": None}


def parse_request(text: bytes) -> TextRequest:
    """Turn one request line into a command.

    ``put``/``set`` take the rest of the line after the key as the value (so it may hold
    spaces); ``get`` accepts the ``get <key> <value>`` form the documents write and ignores the
    value; ``Bye`` ends the session. Any other line is a command and its words.
    """
    words = text.split()
    if not words:
        raise TextRequestError("empty request")
    verb = words[0].lower()
    if verb in _VALUE_VERBS:
        parts = text.lstrip().split(None, 2)
        if len(parts) < 3:
            raise TextRequestError(f"wrong number of arguments for '{verb.decode()}' command")
        args = [b"SET", parts[1], parts[2]]
        option = _VALUE_VERBS[verb]
        if option is not None:
            args.append(option)
            return TextRequest(args, _stored_unless_nil)
        return TextRequest(args)
    if verb == b"get":
        if len(words) < 2:
            raise TextRequestError("wrong number of arguments for 'get' command")
        return TextRequest([b"GET", words[1]], _found_unless_nil)
    if verb == b"del":
        if len(words) != 2:
            raise TextRequestError("wrong number of arguments for 'del' command")
        return TextRequest([b"DEL", words[1]], _deleted_or_missing)
    if verb in (b"bye", b"quit"):
        if len(words) != 1:
            raise TextRequestError(f"wrong number of arguments for '{words[0].decode()}' command")
        return TextRequest([b"QUIT"], lambda _reply: GOODBYE, goodbye=True)
    if verb == b"auth" and len(words) > 1:  # the password is the rest of the line
        return TextRequest([b"AUTH", text.lstrip().split(None, 1)[1]], _auth_result)
    return TextRequest(words)


def render_text(reply: Reply) -> list[bytes]:
    """Render a reply as the lines a person reads (without terminators).

    Never nothing: a reply of zero bytes would leave a client that reads once waiting.
    """
    if isinstance(reply, bytes):
        return [reply or b'""']
    if isinstance(reply, Status):
        return [reply.text.encode()]
    if isinstance(reply, ReplyError):
        return [error_line(reply.message)]
    if reply is None or isinstance(reply, NilArray):
        return [b"(nil)"]
    if isinstance(reply, bool):
        return [b"1" if reply else b"0"]
    if isinstance(reply, (int, float)):
        return [str(reply).encode()]
    if isinstance(reply, dict):
        reply = [item for pair in reply.items() for item in pair]
    if not reply:
        return [b"(empty array)"]
    return [line for item in reply for line in render_text(item)]


def error_line(message: str) -> bytes:
    """``error: <message>``, dropping Redis's generic ``ERR`` code, and the first arguments
    Redis quotes after an unknown command's name (the person just typed them)."""
    if message.startswith("ERR "):
        message = message[4:]
    elif message.startswith("NOAUTH "):
        message = "authentication required"
    if message.startswith("unknown command '"):
        cut = message.find("', with args beginning with:")
        if cut > 0:
            message = message[: cut + 1]
    return b"error: " + message.encode("utf-8", "replace")


def encode_text_reply(lines: list[bytes], crlf: bool) -> bytes:
    """Join reply lines for the wire; see the module docstring for the terminator rule."""
    if crlf:
        return b"".join(line + b"\r\n" for line in lines)
    return b"\n".join(lines)
