"""``notify-keyspace-events``: Redis's event classes, one letter each, and the canonical
spelling ``CONFIG GET`` shows (the notifications themselves: :mod:`kvstore.commands.notifications`).
"""

from __future__ import annotations

# The classes, as Redis numbers them.
KEYSPACE = 1 << 0  # K
KEYEVENT = 1 << 1  # E
GENERIC = 1 << 2  # g
STRING = 1 << 3  # $
LIST = 1 << 4  # l
SET = 1 << 5  # s
HASH = 1 << 6  # h
ZSET = 1 << 7  # z
EXPIRED = 1 << 8  # x
EVICTED = 1 << 9  # e
STREAM = 1 << 10  # t
KEY_MISS = 1 << 11  # m
MODULE = 1 << 12  # d
NEW = 1 << 13  # n
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE  # A

_LETTERS = {
    "A": ALL,
    "g": GENERIC,
    "$": STRING,
    "l": LIST,
    "s": SET,
    "h": HASH,
    "z": ZSET,
    "x": EXPIRED,
    "e": EVICTED,
    "K": KEYSPACE,
    "E": KEYEVENT,
    "t": STREAM,
    "m": KEY_MISS,
    "d": MODULE,
    "n": NEW,
}
#: The classes ``CONFIG GET`` shows one by one when not all of ``A`` is on, in Redis's order.
_SHOWN = "g$lshzxetdn"

INVALID_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_flags(text: str) -> int:
    """The flags of a ``notify-keyspace-events`` value (ValueError for a letter not a class)."""
    flags = 0
    for letter in text:
        bit = _LETTERS.get(letter)
        if bit is None:
            raise ValueError(INVALID_CLASS)
        flags |= bit
    return flags


def flags_text(flags: int) -> str:
    """The flags as ``CONFIG GET`` shows them: Redis's canonical spelling."""
    if flags & ALL == ALL:
        # Redis 7.0 shows no ``n`` after ``A`` (and so forgets it on CONFIG REWRITE): kept.
        text = "An" if flags & NEW else "A"
    else:
        text = "".join(letter for letter in _SHOWN if flags & _LETTERS[letter])
    for letter in "KEm":
        if flags & _LETTERS[letter]:
            text += letter
    return text


def normalize_flags(text: str) -> str:
    return flags_text(parse_flags(text))
