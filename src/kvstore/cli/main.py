"""``./client`` / ``kvstore``: run one command, or an interactive session.

Every failure ends as one ``error: ...`` line on stderr and an exit status (see ``--help``);
no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from kvstore.cli.arguments import Invocation, UsageError, parse_arguments
from kvstore.cli.interactive import run_session
from kvstore.cli.line_input import open_lines
from kvstore.cli.oneshot import Outcome, check_usage, run_command
from kvstore.cli.watch import watch_stdout
from kvstore.client import (
    AuthenticationRequiredError,
    Client,
    ClusterClient,
    KvstoreError,
    ResponseError,
)
from kvstore.protocol.text import error_line

#: Exit statuses.
FAILED = 1  # the command failed (not found, already exists, an error reply)
TROUBLE = 2  # bad usage, or the server cannot be reached or went away
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

DEFAULT_CONNECT_TIMEOUT = 10.0

NEEDS_PASSWORD = "authentication required: give the password with --password or KVSTORE_PASSWORD"


def main(argv: Sequence[str] | None = None) -> int:
    prog = os.path.basename(sys.argv[0])
    if prog in ("", "__main__.py"):  # python -m kvstore.cli
        prog = "kvstore"
    try:
        status = _run(list(sys.argv[1:] if argv is None else argv), prog)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at exit
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return FAILED
    except Exception as exc:  # a bug: still one line, never a traceback
        _error(f"internal error: {type(exc).__name__}: {exc}")
        return FAILED
    return status


def _run(argv: list[str], prog: str) -> int:
    try:
        invocation = parse_arguments(argv, prog)
        if not invocation.interactive:
            check_usage(invocation.words)
    except UsageError as exc:
        _error(f"{exc} (see {prog} --help)")
        return TROUBLE
    options: dict[str, Any] = {
        "username": invocation.username,
        "password": invocation.password,
        "connect_timeout": invocation.timeout or DEFAULT_CONNECT_TIMEOUT,
        "socket_timeout": invocation.timeout,
        "tls": invocation.tls,
        "ca_certs": invocation.cacert,
        "certfile": invocation.cert,
        "keyfile": invocation.key,
    }
    if invocation.cluster:
        if invocation.interactive or invocation.words[0].lower() == b"watch":
            _error(f"-c runs one command, not a session or watch (see {prog} --help)")
            return TROUBLE
        return _in_cluster(ClusterClient(invocation.address, **options), invocation.words)
    try:
        client = Client(invocation.address, db=invocation.db, **options)
    except ValueError as exc:  # a certificate or key file that cannot be used
        _error(str(exc))
        return TROUBLE
    try:
        return _converse(client, invocation)
    except AuthenticationRequiredError:
        _error(NEEDS_PASSWORD)
        return TROUBLE
    except ResponseError as exc:  # refused at connection time: AUTH
        _error(exc.message)
        return TROUBLE
    except KvstoreError as exc:  # cannot connect, lost connection, timeout, bad reply
        _error(str(exc))
        return TROUBLE
    finally:
        client.close()


def _in_cluster(client: ClusterClient, words: list[bytes]) -> int:
    """One command sent to the node serving its key, redirections followed (``-c``)."""
    try:
        return _print(run_command(client, words))
    except AuthenticationRequiredError:
        _error(NEEDS_PASSWORD)
        return TROUBLE
    except ValueError as exc:  # a certificate or key file that cannot be used
        _error(str(exc))
        return TROUBLE
    except KvstoreError as exc:  # no node reachable, lost connection, too many redirections
        _error(str(exc))
        return TROUBLE
    finally:
        client.close()


def _print(outcome: Outcome) -> int:
    sys.stdout.buffer.write(outcome.stdout)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(outcome.stderr)
    sys.stderr.buffer.flush()
    return outcome.status


def _converse(client: Client, invocation: Invocation) -> int:
    client.connect()
    if invocation.interactive:
        lines = open_lines()
        try:
            return run_session(client, lines, sys.stdout.buffer)
        except KeyboardInterrupt:
            sys.stdout.buffer.write(b"\n")  # leave the shell's prompt on a line of its own
            raise
        finally:
            lines.close()
    if invocation.words[0].lower() == b"watch":
        refusal = watch_stdout(client, invocation.words[1])
        if refusal is not None:
            _error(refusal)
            return TROUBLE
        return 0
    return _print(run_command(client, invocation.words))


def _error(message: str) -> None:
    """``error: <message>`` on stderr (Redis's generic ``ERR`` code dropped)."""
    sys.stderr.buffer.write(error_line(message) + b"\n")
    sys.stderr.buffer.flush()


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
