"""The command line: where to connect, and what to do there."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from kvstore import __version__
from kvstore.client import Address, AddressError, parse_address
from kvstore.client.address import is_url, parse_port, parse_url

DESCRIPTION = """\
Command-line client for kvstore. With a command it runs it and exits; without one it opens an
interactive session in the text protocol's words (put, get, del, set, Bye).

<node> is host, host:port, [ipv6]:port or a bare IPv6 address; the port defaults to 5000.
"<host> <port>" (a bare port number as the second word) works too, and so does a Redis URL,
redis://[[user]:password@]host[:port][/db] (rediss:// for TLS)."""

EPILOG = """\
commands:
  set <key> <value>     store the value; prints nothing
  get <key> [<value>]   print the value (a trailing value is ignored);
                        "error: not found" on stderr and exit 1 if the key is missing
  put <key> <value>     store the value only if the key is new; prints nothing;
                        "error: key already exists" on stderr and exit 1 if it exists
  del <key>             delete the key; prints nothing;
                        "error: not found" on stderr and exit 1 if it was missing
  watch <pattern>       print each change to the keys matching the pattern as it happens,
                        one line per event ("set user:1", "del user:1", "expired k"),
                        until Ctrl-C; needs the server's keyspace notifications on
                        (CONFIG SET notify-keyspace-events KA)
  anything else         sent as-is (for example "ping", "exists a b", "set k v ex 60"); the
                        reply is printed as redis-cli prints to a pipe, and, as with
                        redis-cli, an error reply is printed on stdout with exit status 0

A value is one argument: quote it for the shell if it holds spaces ('set k "a b"'). Options go
before <node>; everything after it is the command.

exit status: 0 success, 1 the command failed, 2 bad usage or the server cannot be reached
(or the connection was lost), 130 interrupted."""


class UsageError(Exception):
    """A bad command line; the message is one line for the user."""


@dataclass(frozen=True)
class Invocation:
    """What the command line asks for."""

    address: Address
    words: list[bytes]  # the command and its arguments; empty for an interactive session
    db: int = 0
    username: str | None = None
    password: str | None = None
    timeout: float | None = None
    tls: bool = False
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    #: ``-c``: follow cluster redirections (MOVED, ASK), as ``redis-cli -c`` does.
    cluster: bool = False

    @property
    def interactive(self) -> bool:
        return not self.words


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        usage="%(prog)s [options] <node> [<command> [<argument> ...]]\n"
        "       %(prog)s [options] <host> <port>",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--password",
        metavar="PASSWORD",
        default=os.environ.get("KVSTORE_PASSWORD") or None,
        help="send AUTH with this password on connecting (env KVSTORE_PASSWORD)",
    )
    parser.add_argument(
        "-n",
        "--db",
        metavar="DB",
        type=_database,
        help="the database to use (SELECT on connecting; default 0, or the URL's)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        help="give up connecting, or waiting for a reply, after this long "
        "(default: 10 s to connect, no limit on replies)",
    )
    parser.add_argument(
        "-c",
        "--cluster",
        action="store_true",
        help="cluster mode: send each command to the node serving its key, following MOVED "
        "and ASK redirections (as redis-cli -c); one command, not a session or watch",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="connect over TLS (implied by --cacert, --cert and --key)",
    )
    parser.add_argument(
        "--cacert",
        metavar="FILE",
        help="CA certificates (PEM) to verify the server with (default: the system's)",
    )
    parser.add_argument(
        "--cert", metavar="FILE", help="client certificate (PEM), for servers that require one"
    )
    parser.add_argument("--key", metavar="FILE", help="the client certificate's private key")
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    parser.add_argument("node", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def parse_arguments(argv: Sequence[str], prog: str) -> Invocation:
    """Turn the command line into an :class:`Invocation`; raise :class:`UsageError`."""
    namespace = build_parser(prog).parse_args(argv)
    node: str | None = namespace.node
    words: list[str] = namespace.words
    if node is None:
        raise UsageError("missing <node>: the server to connect to")
    if is_url(node):
        try:
            endpoint = parse_url(node)
        except AddressError as exc:
            raise UsageError(str(exc)) from None
        return Invocation(
            endpoint.address,
            [os.fsencode(word) for word in words],
            db=endpoint.db if namespace.db is None else namespace.db,
            username=endpoint.username,
            password=endpoint.password if endpoint.password is not None else namespace.password,
            timeout=namespace.timeout,
            tls=namespace.tls or endpoint.tls,
            cacert=namespace.cacert,
            cert=namespace.cert,
            key=namespace.key,
            cluster=namespace.cluster,
        )
    try:
        address = parse_address(node, default_port=0)  # 0: no port was given
        if words and words[0].isascii() and words[0].isdigit():
            if address.port:
                raise UsageError(f"{node!r} already has a port; {words[0]!r} is not a command")
            address = Address(address.host, parse_port(words[0]))
            words = words[1:]
        elif not address.port:
            address = Address(address.host)
    except AddressError as exc:
        raise UsageError(str(exc)) from None
    return Invocation(
        address,
        [os.fsencode(word) for word in words],
        db=namespace.db or 0,
        password=namespace.password,
        timeout=namespace.timeout,
        tls=namespace.tls,
        cacert=namespace.cacert,
        cert=namespace.cert,
        key=namespace.key,
        cluster=namespace.cluster,
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _database(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a database number, got {text!r}")
    return int(text)
