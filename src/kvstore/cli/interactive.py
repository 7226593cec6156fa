"""The interactive session: request lines in the text protocol's words, replies as its text.

The client speaks RESP through the library; :mod:`kvstore.protocol.text` turns each typed
line into command arguments and each reply into the lines the text protocol would send, so a
session reads the same as one with the server over ``nc``.
"""

from __future__ import annotations

import contextlib
from typing import Any, BinaryIO

from kvstore.cli.line_input import LineSource
from kvstore.client import Client, KvstoreError, ResponseError
from kvstore.protocol import ReplyError
from kvstore.protocol.text import TextRequestError, error_line, parse_request, render_text

CONNECTED = b"Connected to server\n"
PROMPT = b"Enter request: "
REPLIED = b"Server replied: "


def run_session(client: Client, lines: LineSource, output: BinaryIO) -> int:
    """Read requests until ``Bye`` or the end of input; return the exit status.

    A lost connection raises :class:`~kvstore.client.errors.ConnectionError` to the caller.
    """
    _show(output, CONNECTED)
    while True:
        line = lines.read_line(PROMPT)
        if line is None:
            _show(output, b"\n")  # end the prompt's line
            return 0
        try:
            request = parse_request(line)
        except TextRequestError as exc:
            _show(output, REPLIED + error_line(str(exc)) + b"\n")
            continue
        if request.goodbye:
            _show(output, REPLIED + b"\n".join(render_text(request.render(None))) + b"\n")
            with contextlib.suppress(KvstoreError):  # leaving anyway: a dead server is fine
                client.execute_command(*request.args)
            return 0
        reply = request.render(_execute(client, request.args))
        _show(output, REPLIED + b"\n".join(render_text(reply)) + b"\n")


def _execute(client: Client, args: list[bytes]) -> Any:
    """The reply to ``args``, with an error reply as a value for the text renderer."""
    try:
        return client.execute_command(*args)
    except ResponseError as exc:
        return ReplyError(exc.message)


def _show(output: BinaryIO, data: bytes) -> None:
    output.write(data)
    output.flush()
