"""The command table: every command with its arity, flags and handler.

A handler takes the session (whose ``db`` is the keyspace) and the full argument list, command
name first, and returns a protocol-neutral reply (see :mod:`kvstore.protocol.replies`). It must
not ``await``: a command runs start to finish within one event-loop step, which is what makes
every command atomic without locks. To refuse a request it raises :class:`ReplyError` before
changing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns

from kvstore.commands.context import Session
from kvstore.protocol.replies import Reply, ReplyError

Args = list[bytes]
Handler = Callable[[Session, Args], Reply]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class KeySpec:
    """Where a command finds some of its keys and what it does to them, as Redis 7's key
    specifications say (COMMAND INFO, COMMAND GETKEYSANDFLAGS): from argument ``begin``,
    keys every ``step`` arguments up to ``last`` (0: just the one at ``begin``; negative:
    counted from the end, -1 the last argument), with ``flags`` such as ``RW access update``
    (see docs/commands.md)."""

    flags: tuple[str, ...]
    begin: int
    last: int = 0
    step: int = 1
    notes: str = ""
    #: Searched for from argument ``begin`` (negative: from the end, backwards) instead of
    #: starting at it: a ``keyword`` begin_search (MIGRATE's ``KEYS``).
    keyword: str = ""


@dataclass(frozen=True)
class Command:
    name: str  # lower case, as COMMAND INFO shows it
    arity: int  # as Redis counts it: the name included; negative means "at least"
    flags: frozenset[str]
    handler: Handler
    group: str
    summary: str
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    #: Redis's key specifications of the command (empty if it takes no keys).
    key_specs: tuple[KeySpec, ...] = ()
    #: Redis's command tips (``nondeterministic_output``, ``request_policy:all_shards``...).
    tips: tuple[str, ...] = ()
    #: ACL categories besides those that follow from the flags and the group (``dangerous``).
    acl: tuple[str, ...] = ()
    #: Runs before the client has authenticated (AUTH, HELLO, QUIT): the ``noauth`` flag, as a
    #: field so the dispatcher's check is one attribute read.
    noauth: bool = field(init=False)
    #: The ``write`` flag (the command is logged), as a field for the same reason.
    write: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "noauth", "noauth" in self.flags)
        object.__setattr__(self, "write", "write" in self.flags)


#: The table, keyed by the lower-case name as bytes (what arrives on the wire).
COMMANDS: dict[bytes, Command] = {}


def command(
    name: str,
    arity: int,
    flags: str,
    *,
    group: str,
    summary: str,
    keys: tuple[int, int, int] = (0, 0, 0),
    key_specs: str | tuple[KeySpec, ...] | None = None,
    tips: str = "",
    acl: str = "",
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``name``.

    ``key_specs`` describes the keys as Redis's key specifications do: by default one range
    from ``keys`` flagged ``RO access`` (readonly commands), ``RW update`` (write commands) or
    ``RO``; a string gives that range other flags (``"OW update"``); a tuple of
    :class:`KeySpec` replaces it. ``tips`` and ``acl`` are space-separated words.
    """

    def register(handler: Handler) -> Handler:
        first, last, step = keys
        flag_set = frozenset(flags.split())
        COMMANDS[name.encode()] = Command(
            name,
            arity,
            flag_set,
            handler,
            group,
            summary,
            first,
            last,
            step,
            _key_specs(keys, flag_set, key_specs),
            tuple(tips.split()),
            tuple(acl.split()),
        )
        return handler

    return register


def _key_specs(
    keys: tuple[int, int, int],
    flags: frozenset[str],
    given: str | tuple[KeySpec, ...] | None,
) -> tuple[KeySpec, ...]:
    if isinstance(given, tuple):
        return given
    first, last, step = keys
    if first <= 0:
        return ()
    if given is None:
        given = "RO access" if "readonly" in flags else "RW update" if "write" in flags else "RO"
    return (KeySpec(tuple(given.split()), first, last if last < 0 else last - first, step),)


def arity_accepts(arity: int, argc: int) -> bool:
    """Whether ``argc`` arguments (the name included) fit ``arity`` as Redis counts it."""
    return argc == arity if arity >= 0 else argc >= -arity


# -- argument helpers shared by the handlers ----------------------------------------------------

SYNTAX_ERROR = "ERR syntax error"
NOT_AN_INTEGER = "ERR value is not an integer or out of range"


def parse_int(raw: bytes, message: str = NOT_AN_INTEGER) -> int:
    """A signed 64-bit integer in canonical decimal form, as Redis's ``string2ll`` reads it."""
    text = raw[1:] if raw[:1] == b"-" else raw
    if not text.isdigit() or (text[0] == 0x30 and raw != b"0") or len(text) > 19:
        raise ReplyError(message)
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ReplyError(message)
    return value


def wrong_arity(name: str) -> ReplyError:
    return ReplyError(f"ERR wrong number of arguments for '{name}' command")


class UnknownCommandError(ReplyError):
    """An unknown command, in Redis's words."""

    def __init__(self, args: Args) -> None:
        self.name = args[0].decode("utf-8", "replace")
        # Redis prints C strings (a NUL ends them) and quotes arguments until 128 bytes are shown.
        shown = b""
        for arg in args[1:]:
            if len(shown) >= 128:
                break
            shown += b"'" + arg.split(b"\0", 1)[0][: 128 - len(shown)] + b"' "
        name = args[0].split(b"\0", 1)[0][:128].decode("utf-8", "replace")
        super().__init__(
            f"ERR unknown command '{name}', with args beginning with: "
            + shown.decode("utf-8", "replace")
        )


def unknown_subcommand(args: Args) -> ReplyError:
    name = args[0].decode("utf-8", "replace").upper()
    sub = args[1].decode("utf-8", "replace")
    return ReplyError(f"ERR unknown subcommand '{sub[:128]}'. Try {name} HELP.")


def subcommand_syntax_error(args: Args) -> ReplyError:
    """Redis's answer to a subcommand whose arguments its container cannot read."""
    sub = args[1].decode("utf-8", "replace")[:128]
    name = args[0].decode("utf-8", "replace").upper()
    return ReplyError(
        f"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP."
    )


Subcommands = dict[bytes, tuple[int, Handler]]

#: Each container command's sub-table, by the container's name: MULTI refuses to queue an
#: unknown subcommand, or one of the wrong arity, as Redis does (see :func:`subcommand_refusal`).
SUBCOMMAND_TABLES: dict[bytes, Subcommands] = {}


def _subcommand_handler(table: Subcommands, args: Args) -> Handler:
    entry = table.get(args[1].lower())
    if entry is None:
        raise unknown_subcommand(args)
    arity, handler = entry
    if not arity_accepts(arity, len(args)):
        container = args[0].decode("utf-8", "replace").lower()
        sub = args[1].decode("utf-8", "replace").lower()
        raise wrong_arity(f"{container}|{sub}")
    return handler


def dispatch_subcommand(table: Subcommands, session: Session, args: Args) -> Reply:
    """Run ``args[1]`` from a container command's sub-table (CLIENT, CONFIG, COMMAND),
    timing it for its own latency histogram (``client|id``) as Redis keeps one per
    subcommand."""
    handler = _subcommand_handler(table, args)
    name = (args[0] + b"|" + args[1]).decode("utf-8", "replace").lower()
    session.last_command = name  # CLIENT LIST's cmd=client|list, as Redis shows it
    stats = session.server.stats
    if not stats.latency_tracking:
        return handler(session, args)
    started = perf_counter_ns()
    try:
        return handler(session, args)
    finally:
        stats.record_latency(name, perf_counter_ns() - started)


def subcommand_refusal(args: Args) -> ReplyError | None:
    """Why a container command's subcommand cannot run at all (None if it can, or if
    ``args`` names no container or no subcommand)."""
    table = SUBCOMMAND_TABLES.get(args[0].lower())
    if table is None or len(args) < 2:
        return None
    try:
        _subcommand_handler(table, args)
    except ReplyError as error:
        return error
    return None
