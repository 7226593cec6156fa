"""String commands: GET, SET and its relatives."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.table import (
    INT64_MAX,
    SYNTAX_ERROR,
    Args,
    command,
    parse_int,
)
from kvstore.protocol.replies import OK, Reply, ReplyError


@command(
    "get", 2, "readonly fast", group="string", summary="Get the value of a key.", keys=(1, 1, 1)
)
def get(session: Session, args: Args) -> Reply:
    return session.db.get(args[1])


_EXPIRY_UNITS = {b"ex": 1000, b"px": 1, b"exat": 1000, b"pxat": 1}


def _parse_set_options(session: Session, options: Args) -> tuple[str, bool, int | None, bool]:
    """Parse SET's options into (condition, get, deadline in ms, keepttl)."""
    condition = ""
    want_get = False
    deadline: int | None = None
    expiry_option = b""
    keep_ttl = False
    i = 0
    while i < len(options):
        option = options[i].lower()
        if option in (b"nx", b"xx") and not condition:
            condition = option.decode()
        elif option == b"get" and not want_get:
            want_get = True
        elif option == b"keepttl" and not expiry_option and not keep_ttl:
            keep_ttl = True
        elif (
            option in _EXPIRY_UNITS and not expiry_option and not keep_ttl and i + 1 < len(options)
        ):
            i += 1
            amount = parse_int(options[i])
            scale = _EXPIRY_UNITS[option]
            if amount <= 0 or amount > INT64_MAX // scale:
                raise ReplyError("ERR invalid expire time in 'set' command")
            deadline = amount * scale
            if option in (b"ex", b"px"):
                deadline += session.db.clock()
            expiry_option = option
        else:
            raise ReplyError(SYNTAX_ERROR)
        i += 1
    return condition, want_get, deadline, keep_ttl


@command(
    "set",
    -3,
    "write denyoom",
    group="string",
    summary="Set the string value of a key, optionally only if it exists or not, with an expiry.",
    keys=(1, 1, 1),
)
def set_(session: Session, args: Args) -> Reply:
    db = session.db
    if len(args) == 3:
        db.set(args[1], args[2])
        return OK
    key, value = args[1], args[2]
    condition, want_get, deadline, keep_ttl = _parse_set_options(session, args[3:])
    old = db.get(key) if want_get else None
    exists = old is not None if want_get else db.contains(key)
    if (condition == "nx" and exists) or (condition == "xx" and not exists):
        return old if want_get else None
    if keep_ttl:
        db.set_keep_deadline(key, value)
    else:
        db.set(key, value, deadline)
    return old if want_get else OK


@command(
    "setnx",
    3,
    "write denyoom fast",
    group="string",
    summary="Set a key only if it does not exist.",
    keys=(1, 1, 1),
)
def setnx(session: Session, args: Args) -> Reply:
    db = session.db
    if db.contains(args[1]):
        return 0
    db.set(args[1], args[2])
    return 1
