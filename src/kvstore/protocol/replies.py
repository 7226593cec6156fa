"""Protocol-neutral reply values.

Command handlers return these; each wire codec renders them in its own way. A reply is one of:
``bytes`` (a bulk string), ``int``, ``float``, ``bool``, ``None`` (nil), :class:`Status`
(a simple status line such as ``OK``), :class:`ReplyError`, or a ``list`` / ``dict`` of replies;
rarely :data:`NIL_ARRAY` (the null array), :class:`Verbatim` (text for people, as INFO's) or
:class:`SetReply` (a RESP3 set).
"""

from __future__ import annotations

from typing import Union


class Status:
    """A simple status reply (RESP ``+OK``), as opposed to a bulk string."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        if "\r" in text or "\n" in text:
            raise ValueError("a status line cannot contain CR or LF")
        self.text = text

    def __repr__(self) -> str:
        return f"Status({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class ReplyError(Exception):
    """An error reply. The message starts with its code, e.g. ``ERR syntax error``.

    Handlers raise it to abort a command (the keyspace must be untouched at that point) or
    return it as a value inside an aggregate.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message.replace("\r", " ").replace("\n", " ")

    @property
    def code(self) -> str:
        """The error code: the first word of the message (``ERR``, ``WRONGTYPE``...)."""
        return self.message.split(" ", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class NilArray:
    """The null array: RESP2 ``*-1``, RESP3 ``_``. EXEC answers it when a watched key changed.

    Use the one instance, :data:`NIL_ARRAY`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "NIL_ARRAY"


NIL_ARRAY = NilArray()


class SetReply(list):  # type: ignore[type-arg]
    """An unordered collection (COMMAND's flags and categories): RESP3 sends it as a set
    (``~``), as Redis does; RESP2 and the text protocol see a plain array."""

    __slots__ = ()


class Verbatim(bytes):
    """Text meant to be shown as it is (INFO's): RESP3 sends it as a verbatim string of format
    ``txt`` (``=``), as Redis does; RESP2 and the text protocol see a plain bulk string."""

    __slots__ = ()


class Push(list):  # type: ignore[type-arg]
    """Out-of-band data for the client (a pub/sub message, a subscription's confirmation):
    RESP3's push type (``>``); RESP2 sends it as an array."""

    __slots__ = ()


class Replies(list):  # type: ignore[type-arg]
    """Several replies written one after the other, for one request (SUBSCRIBE to several
    channels answers once per channel, as Redis); none at all when empty."""

    __slots__ = ()


Reply = Union[
    bytes,
    int,
    float,
    bool,
    None,
    Status,
    ReplyError,
    NilArray,
    "list[Reply]",
    "dict[bytes, Reply]",
]

OK = Status("OK")
PONG = Status("PONG")
QUEUED = Status("QUEUED")
