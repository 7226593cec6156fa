"""Commands on part of a value: APPEND, STRLEN, GETRANGE and SETRANGE.

Values grow no longer than Redis's ``proto-max-bulk-len`` (512 MiB), checked before anything
is allocated. Editing a value keeps the key's expiry.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.objects import edited
from kvstore.commands.table import Args, command, parse_int
from kvstore.protocol.replies import Reply, ReplyError
from kvstore.protocol.resp_requests import RequestLimits

MAX_STRING_LENGTH = RequestLimits.max_bulk_len
TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def _check_length(length: int) -> None:
    if length > MAX_STRING_LENGTH:
        raise ReplyError(TOO_LONG)


@command(
    "append",
    3,
    "write denyoom fast",
    group="string",
    summary="Append a string to the value of a key; create the key if needed.",
    keys=(1, 1, 1),
    key_specs="RW insert",
)
def append(session: Session, args: Args) -> Reply:
    db = session.db
    key, suffix = args[1], args[2]
    old = db.get(key)
    if old is None:
        db.set(key, suffix)
        return len(suffix)
    _check_length(len(old) + len(suffix))
    value = edited(old + suffix)  # edited in place in Redis: raw, whatever it holds
    db.set_keep_deadline(key, value)
    return len(value)


@command(
    "strlen",
    2,
    "readonly fast",
    group="string",
    summary="The length of the value of a key (0 if it does not exist).",
    keys=(1, 1, 1),
    key_specs="RO",
)
def strlen(session: Session, args: Args) -> Reply:
    value = session.db.get(args[1])
    return 0 if value is None else len(value)


@command(
    "getrange",
    4,
    "readonly",
    group="string",
    summary="A substring of the value of a key, by inclusive offsets (negative from the end).",
    keys=(1, 1, 1),
)
def getrange(session: Session, args: Args) -> Reply:
    start = parse_int(args[2])
    end = parse_int(args[3])
    value = session.db.get(args[1])
    if value is None or (start < 0 and end < 0 and start > end):
        return b""
    length = len(value)
    if start < 0:
        start = max(length + start, 0)
    if end < 0:
        end = max(length + end, 0)
    end = min(end, length - 1)
    if start > end or length == 0:
        return b""
    return value[start : end + 1]


@command(
    "setrange",
    4,
    "write denyoom",
    group="string",
    summary="Overwrite part of the value of a key from an offset, padding with zero bytes.",
    keys=(1, 1, 1),
)
def setrange(session: Session, args: Args) -> Reply:
    db = session.db
    key, patch = args[1], args[3]
    offset = parse_int(args[2])
    if offset < 0:
        raise ReplyError("ERR offset is out of range")
    old = db.get(key)
    if not patch:  # nothing to write: the key is neither created nor changed
        return 0 if old is None else len(old)
    _check_length(offset + len(patch))
    if old is None:
        value = edited(bytes(offset) + patch)  # raw in Redis, whatever it holds
        db.set(key, value)
    else:
        padding = bytes(max(offset - len(old), 0))
        value = edited(old[:offset] + padding + patch + old[offset + len(patch) :])
        db.set_keep_deadline(key, value)
    return len(value)
