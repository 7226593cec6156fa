"""SCAN: iterate over the keys a few at a time with an integer cursor.

The cursor machinery (snapshots, guarantees, costs) is :mod:`kvstore.keyspace_scan`; this
module parses the command as Redis does and filters by MATCH and TYPE.
"""

from __future__ import annotations

import weakref

from kvstore.commands.context import Session
from kvstore.commands.glob import compile_glob
from kvstore.commands.table import SYNTAX_ERROR, Args, command, parse_int
from kvstore.keyspace import Keyspace
from kvstore.keyspace_scan import KeyScanner
from kvstore.protocol.replies import Reply, ReplyError

ULONG_MAX = 2**64 - 1
DEFAULT_COUNT = 10

#: One scanner per keyspace, dropped with it (a keyspace replaced by a load takes its cursors).
_scanners: weakref.WeakKeyDictionary[Keyspace, KeyScanner] = weakref.WeakKeyDictionary()


def scanner_for(db: Keyspace) -> KeyScanner:
    scanner = _scanners.get(db)
    if scanner is None:
        scanner = _scanners[db] = KeyScanner(db)
    return scanner


def parse_cursor(raw: bytes) -> int:
    """A cursor as Redis reads it with ``strtoul``: an optional sign, decimal digits (none at
    all reads as 0), nothing else; a leading ``-`` wraps around as C's unsigned negation. C
    stops reading at a NUL byte."""
    raw = raw.split(b"\0", 1)[0]
    sign, digits = (raw[:1], raw[1:]) if raw[:1] in (b"+", b"-") else (b"", raw)
    if (not digits and sign) or not (digits.isdigit() or not digits):
        raise ReplyError("ERR invalid cursor")
    value = int(digits) if digits else 0
    if value > ULONG_MAX:
        raise ReplyError("ERR invalid cursor")
    return (-value) & ULONG_MAX if sign == b"-" else value


def _scan_options(options: Args) -> tuple[int, bytes | None, bytes | None]:
    """COUNT, MATCH and TYPE, in any order, the last of a repeated one winning."""
    count, pattern, type_name = DEFAULT_COUNT, None, None
    for i in range(0, len(options), 2):
        if i + 1 >= len(options):
            raise ReplyError(SYNTAX_ERROR)
        option, value = options[i].lower(), options[i + 1]
        if option == b"count":
            count = parse_int(value)
            if count < 1:
                raise ReplyError(SYNTAX_ERROR)
        elif option == b"match":
            pattern = None if value == b"*" else value  # "*" skips matching, as in Redis
        elif option == b"type":
            type_name = value
        else:
            raise ReplyError(SYNTAX_ERROR)
    return count, pattern, type_name


@command(
    "scan",
    -2,
    "readonly",
    group="generic",
    summary="Iterate over the keys: SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].",
    tips="nondeterministic_output request_policy:special",
)
def scan(session: Session, args: Args) -> Reply:
    cursor = parse_cursor(args[1])
    count, pattern, type_name = _scan_options(args[2:])
    next_cursor, keys = scanner_for(session.db).scan(cursor, count)
    if type_name is not None and type_name.split(b"\0", 1)[0].lower() != b"string":
        keys = []  # every value is a string; Redis's other type names select nothing here
    if pattern is not None and keys:
        matches = compile_glob(pattern).matches
        keys = [key for key in keys if matches(key)]
    return [b"%d" % next_cursor, list(keys)]
