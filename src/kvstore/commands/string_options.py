"""The options of SET and GETEX as a record, for the commands outside the hot path (GETEX,
SETEX, PSETEX). The rules are written once, in :mod:`kvstore.commands.hot` (Redis's: every
option read first, then the expire time; the last of repeated options wins; contradicting ones
refused), which SET runs directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.commands import hot as _pure_hot
from kvstore.commands.context import Session
from kvstore.commands.handlers import hot
from kvstore.commands.table import Args

# The flags' bits: plain numbers, the same in both builds (compiled, they are C constants).
_NX, _XX, _GET = _pure_hot.NX, _pure_hot.XX, _pure_hot.GET
_KEEP_TTL, _PERSIST = _pure_hot.KEEP_TTL, _pure_hot.PERSIST


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
    flags, expiry, amount = hot.parse_options(options, for_set)
    return StringOptions(
        nx=bool(flags & _NX),
        xx=bool(flags & _XX),
        get=bool(flags & _GET),
        keep_ttl=bool(flags & _KEEP_TTL),
        persist=bool(flags & _PERSIST),
        expiry=expiry,
        amount=amount,
    )


def deadline_ms(session: Session, options: StringOptions, command_name: str) -> int:
    """The absolute deadline the expiry option names, refused as Redis refuses it: not a
    number, not positive, or past the largest 64-bit millisecond time once converted."""
    return hot.expire_deadline(session.db.clock, options.expiry, options.amount, command_name)
