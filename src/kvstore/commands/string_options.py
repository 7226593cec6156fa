"""The options of SET and GETEX, read with Redis's rules and in Redis's order.

Redis reads every option first (a misplaced word is a syntax error even after a bad number),
and only then the expire time, so these are two steps: :func:`parse_options`, then
:func:`deadline_ms`. An option may repeat (``NX NX``, ``EX 1 EX 2``: the last time wins); the
ones that contradict each other (``NX XX``, ``EX 1 PX 2``, ``KEEPTTL EX 1``) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.commands.context import Session
from kvstore.commands.table import INT64_MAX, SYNTAX_ERROR, Args, parse_int
from kvstore.protocol.replies import ReplyError

#: Milliseconds per unit of each expiry option.
_UNIT_MS = {b"ex": 1000, b"px": 1, b"exat": 1000, b"pxat": 1}
_RELATIVE = (b"ex", b"px")


@dataclass
class StringOptions:
    nx: bool = False
    xx: bool = False
    get: bool = False
    keep_ttl: bool = False
    persist: bool = False
    expiry: bytes = b""  # b"ex", b"px", b"exat" or b"pxat"; empty for none
    amount: bytes = b""  # the expiry's number, unread until deadline_ms()


def parse_options(options: Args, *, for_set: bool) -> StringOptions:
    """SET's options (``for_set``) or GETEX's; raise the syntax error Redis gives."""
    parsed = StringOptions()
    i = 0
    while i < len(options):
        # Redis compares option names as C strings, so a NUL ends one.
        option = options[i].split(b"\0", 1)[0].lower()
        has_next = i + 1 < len(options)
        if for_set and option == b"nx" and not parsed.xx:
            parsed.nx = True
        elif for_set and option == b"xx" and not parsed.nx:
            parsed.xx = True
        elif for_set and option == b"get":
            parsed.get = True
        elif for_set and option == b"keepttl" and not parsed.expiry:
            parsed.keep_ttl = True
        elif not for_set and option == b"persist" and not parsed.expiry:
            parsed.persist = True
        elif (
            option in _UNIT_MS
            and has_next
            and not parsed.keep_ttl
            and not parsed.persist
            and parsed.expiry in (b"", option)
        ):
            parsed.expiry = option
            parsed.amount = options[i + 1]
            i += 1
        else:
            raise ReplyError(SYNTAX_ERROR)
        i += 1
    return parsed


def deadline_ms(session: Session, options: StringOptions, command_name: str) -> int:
    """The absolute deadline the expiry option names, refused as Redis refuses it: not a
    number, not positive, or past the largest 64-bit millisecond time once converted."""
    amount = parse_int(options.amount)
    scale = _UNIT_MS[options.expiry]
    if amount <= 0 or amount > INT64_MAX // scale:
        raise invalid_expire_time(command_name)
    deadline = amount * scale
    if options.expiry in _RELATIVE:
        deadline += session.db.clock()
        if deadline > INT64_MAX:  # Redis's 64-bit sum would wrap negative
            raise invalid_expire_time(command_name)
    return deadline


def invalid_expire_time(command_name: str) -> ReplyError:
    return ReplyError(f"ERR invalid expire time in '{command_name}' command")
