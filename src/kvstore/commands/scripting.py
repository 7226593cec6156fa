"""FUNCTION and SCRIPT, for a server that runs no scripts.

kvstore has no scripting engine, so it never holds a function library or a cached script. Tools
and test runners still send these commands on connecting (Redis's own test suite starts with
``FUNCTION FLUSH``), so they answer as Redis does when there is nothing to show: FLUSH is
``OK``, LIST is empty, EXISTS says 0 for every digest, KILL finds nothing running, DUMP gives
the payload of an empty library set, and RESTORE accepts such a payload. What would need an
engine (FUNCTION LOAD, a RESTORE payload holding libraries, SCRIPT LOAD, SCRIPT DEBUG) is
refused with an error; EVAL, EVALSHA and FCALL are unknown commands.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.dump import RDB_VERSION, crc64
from kvstore.commands.table import (
    SUBCOMMAND_TABLES,
    Args,
    Subcommands,
    command,
    dispatch_subcommand,
    subcommand_syntax_error,
)
from kvstore.protocol.replies import OK, Reply, ReplyError, Status

NOTBUSY = "NOTBUSY No scripts in execution right now."
NO_ENGINE = "ERR kvstore runs no scripts"


def _flush_mode_ok(args: Args) -> bool:
    return len(args) == 2 or (len(args) == 3 and args[2].lower() in (b"sync", b"async"))


def _help(lines: tuple[str, ...]) -> Reply:
    return [Status(line) for line in lines]


# -- FUNCTION -------------------------------------------------------------------------------------


def _function_flush(session: Session, args: Args) -> Reply:
    if len(args) > 3:
        raise subcommand_syntax_error(args)
    if not _flush_mode_ok(args):
        raise ReplyError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    return OK


def _function_list(session: Session, args: Args) -> Reply:
    with_code = named = False
    i = 2
    while i < len(args):
        word = args[i].lower()
        if not with_code and word == b"withcode":
            with_code = True
        elif not named and word == b"libraryname":
            if i >= len(args) - 1:
                raise ReplyError("ERR library name argument was not given")
            named = True
            i += 1
        else:
            raise ReplyError(f"ERR Unknown argument {args[i].decode('utf-8', 'replace')}")
        i += 1
    return []


def _function_stats(session: Session, args: Args) -> Reply:
    return {b"running_script": None, b"engines": {}}


def _empty_library_payload() -> bytes:
    body = RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def _function_dump(session: Session, args: Args) -> Reply:
    return _empty_library_payload()


def _function_restore(session: Session, args: Args) -> Reply:
    if len(args) > 4:
        raise subcommand_syntax_error(args)
    if len(args) == 4 and args[3].lower() not in (b"flush", b"append", b"replace"):
        raise ReplyError(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        )
    data = args[2]
    if (
        len(data) < 10
        or int.from_bytes(data[-10:-8], "little") > RDB_VERSION
        or crc64(data[:-8]) != int.from_bytes(data[-8:], "little")
    ):
        raise ReplyError("ERR DUMP payload version or checksum are wrong")
    if len(data) > 10:
        raise ReplyError(f"{NO_ENGINE}: the payload holds function libraries")
    return OK


def _function_delete(session: Session, args: Args) -> Reply:
    raise ReplyError("ERR Library not found")


def _function_kill(session: Session, args: Args) -> Reply:
    raise ReplyError(NOTBUSY)


def _function_load(session: Session, args: Args) -> Reply:
    code = args[-1]
    if len(args) == 4 and args[2].lower() != b"replace":
        raise ReplyError(f"ERR Unknown option given: {args[2].decode('utf-8', 'replace')}")
    if len(args) > 4:
        raise subcommand_syntax_error(args)
    if not code.startswith(b"#!"):
        raise ReplyError("ERR Missing library metadata")
    engine = code[2:].split(b"\n", 1)[0].split(b" ", 1)[0].decode("utf-8", "replace")
    raise ReplyError(f"ERR Engine '{engine}' not found")


FUNCTION_HELP = (
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Refused: kvstore runs no scripts.",
    "DELETE <LIBRARY NAME>",
    "    There are no libraries to delete.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    The libraries (always none).",
    "STATS",
    "    The running function (always none) and the engines (none).",
    "KILL",
    "    Kill the running function (there is never one).",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries (there are none).",
    "DUMP",
    "    A payload of the libraries (an empty one).",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore a payload with no libraries in it.",
    "HELP",
    "    Print this help.",
)

_FUNCTION: Subcommands = {
    b"flush": (-2, _function_flush),
    b"list": (-2, _function_list),
    b"stats": (2, _function_stats),
    b"dump": (2, _function_dump),
    b"restore": (-3, _function_restore),
    b"delete": (3, _function_delete),
    b"kill": (2, _function_kill),
    b"load": (-3, _function_load),
    b"help": (2, lambda session, args: _help(FUNCTION_HELP)),
}
SUBCOMMAND_TABLES[b"function"] = _FUNCTION


@command(
    "function",
    -2,
    "noscript",
    group="scripting",
    summary="Function libraries: there are none (kvstore runs no scripts).",
)
def function(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_FUNCTION, session, args)


# -- SCRIPT ---------------------------------------------------------------------------------------


def _script_flush(session: Session, args: Args) -> Reply:
    if not _flush_mode_ok(args):
        raise ReplyError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    return OK


def _script_exists(session: Session, args: Args) -> Reply:
    return [0] * (len(args) - 2)


def _script_kill(session: Session, args: Args) -> Reply:
    raise ReplyError(NOTBUSY)


def _script_refused(session: Session, args: Args) -> Reply:
    raise ReplyError(NO_ENGINE)


SCRIPT_HELP = (
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Whether scripts are cached (never: kvstore runs no scripts).",
    "FLUSH [ASYNC|SYNC]",
    "    Empty the script cache (it is always empty).",
    "KILL",
    "    Kill the running script (there is never one).",
    "LOAD <script>, DEBUG (YES|SYNC|NO)",
    "    Refused: kvstore runs no scripts.",
    "HELP",
    "    Print this help.",
)

_SCRIPT: Subcommands = {
    b"flush": (-2, _script_flush),
    b"exists": (-3, _script_exists),
    b"kill": (2, _script_kill),
    b"load": (3, _script_refused),
    b"debug": (3, _script_refused),
    b"help": (2, lambda session, args: _help(SCRIPT_HELP)),
}
SUBCOMMAND_TABLES[b"script"] = _SCRIPT


@command(
    "script",
    -2,
    "noscript",
    group="scripting",
    summary="The script cache: always empty (kvstore runs no scripts).",
)
def script(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_SCRIPT, session, args)
