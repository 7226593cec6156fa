"""``./client <node> <command> ...``: run one command and print its outcome.

``get``, ``set``, ``put`` and ``del`` in the forms the assignment documents print what it
specifies; any other command is sent as-is and its reply printed as redis-cli would.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.cli.arguments import UsageError
from kvstore.cli.raw_output import format_reply
from kvstore.client import (
    AuthenticationRequiredError,
    Client,
    ClusterClient,
    ConnectionError,
    ResponseError,
)
from kvstore.protocol.text import error_line

NOT_FOUND = b"error: not found"
ALREADY_EXISTS = b"error: key already exists"


@dataclass(frozen=True)
class Outcome:
    """What to print, and the exit status."""

    stdout: bytes = b""
    stderr: bytes = b""
    status: int = 0


def _failure(line: bytes) -> Outcome:
    return Outcome(stderr=line + b"\n", status=1)


def check_usage(words: list[bytes]) -> None:
    """Refuse, before connecting, a command that cannot be meant; raise :class:`UsageError`."""
    if words[0].lower() == b"put" and len(words) != 3:
        # Not a server command, so passing it through could only fail.
        raise UsageError("put takes a key and a value (quote a value that holds spaces)")
    if words[0].lower() == b"watch" and len(words) != 2:
        raise UsageError("watch takes one key pattern (quote it for the shell: 'user:*')")


def run_command(client: Client | ClusterClient, words: list[bytes]) -> Outcome:
    """Run ``words`` (command name first) on ``client``."""
    verb, count = words[0].lower(), len(words)
    try:
        if verb == b"get" and count in (2, 3):  # "get <key> <value>": the value is ignored
            value = client.get(words[1])
            return _failure(NOT_FOUND) if value is None else Outcome(stdout=value + b"\n")
        if verb == b"set" and count == 3:
            client.set(words[1], words[2])
            return Outcome()
        if verb == b"put":
            return Outcome() if client.put(words[1], words[2]) else _failure(ALREADY_EXISTS)
        if verb == b"del" and count == 2:
            return Outcome() if client.delete(words[1]) else _failure(NOT_FOUND)
    except AuthenticationRequiredError:
        raise  # the caller says how to give the password
    except ResponseError as exc:
        return _failure(error_line(exc.message))
    try:
        reply = client.execute_command(*words)
    except AuthenticationRequiredError:
        raise
    except ResponseError as exc:
        # As redis-cli does: the error is the printed reply, and the exit status stays 0.
        return Outcome(stdout=format_reply(exc))
    except ConnectionError:
        if verb == b"shutdown":  # a server that stops closes without a reply
            return Outcome()
        raise
    if verb == b"info" and isinstance(reply, bytes):
        return Outcome(stdout=reply)  # as redis-cli: INFO's text as it is, no newline added
    return Outcome(stdout=format_reply(reply))
