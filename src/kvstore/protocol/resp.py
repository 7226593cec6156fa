"""RESP's building blocks, written once: bulk strings, arrays, decimal lengths, and the choice
of accelerator.

The request parser and encoder (:mod:`~kvstore.protocol.resp_requests`), the reply encoder and
parser (:mod:`~kvstore.protocol.resp_replies`) and the log's records (which are RESP arrays,
:mod:`kvstore.persistence.records`) take their pieces from here. Where the request path is
measured, a caller may inline an expression of this module (a function call costs more than
the expression), but it takes the table and the constants from here.

Whether hiredis parses (the server's requests, the client's replies, and the log at start-up)
is decided here too, by :func:`use_hiredis`, and hiredis is imported only through
:func:`load_hiredis`.
"""

from __future__ import annotations

from types import ModuleType

CRLF = b"\r\n"
#: Bulk strings shorter than this take their header from a table. (Any bulk string is joined
#: rather than %-formatted: ``%b`` copies a long payload about ten times slower than
#: ``bytes.join``, 325 against 34 us of CPU for 1 MiB.)
LARGE_BULK = 1024
#: Bulk string headers (``$<length>\r\n``) for the usual short lengths, made once: a header
#: from this table joined with the value costs half as much as ``%``-formatting both.
BULK_HEADERS = tuple(b"$%d\r\n" % size for size in range(LARGE_BULK))


def bulk_header(size: int) -> bytes:
    """``$<size>\r\n``."""
    return BULK_HEADERS[size] if size < LARGE_BULK else b"$%d\r\n" % size


def encode_bulk(value: bytes) -> bytes:
    """``value`` as a bulk string: ``$<length>\r\n<value>\r\n``."""
    return b"".join((bulk_header(len(value)), value, CRLF))


def array_head(count: int, *words: bytes) -> bytes:
    """The start of an array of ``count`` bulk strings: its header and its first ``words``
    (a log record's ``*3\r\n$3\r\nSET\r\n``, made once)."""
    return b"".join([b"*%d\r\n" % count, *map(encode_bulk, words)])


def encode_request(args: list[bytes] | tuple[bytes, ...]) -> bytes:
    """An array of bulk strings: a request (client to server), or a log record."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        size = len(arg)
        parts += (BULK_HEADERS[size] if size < LARGE_BULK else b"$%d\r\n" % size, arg, CRLF)
    return b"".join(parts)


def encoded_request_size(frame: list[bytes]) -> int:
    """The size of ``frame`` as :func:`encode_request` writes it (canonical RESP)."""
    size = 3 + len(str(len(frame)))
    for arg in frame:
        length = len(arg)
        size += 5 + len(str(length)) + length
    return size


def parse_length(raw: bytes | bytearray) -> int | None:
    """Parse a canonical decimal integer as Redis's ``string2ll`` does (and hiredis): no sign
    but ``-``, no leading zeros, no blanks, at most 18 digits. Return None if ``raw`` is not
    one. The lengths and counts of RESP's header lines are read with this."""
    if raw[:1] == b"-":
        digits = raw[1:]
        sign = -1
    else:
        digits = raw
        sign = 1
    leading_zero = digits[:1] == b"0" and (len(digits) > 1 or sign < 0)  # "01" and "-0"
    if not digits.isdigit() or leading_zero or len(digits) > 18:
        return None
    return sign * int(digits)


# -- the accelerator ------------------------------------------------------------------------

#: The parser choices (``--parser``, the client's ``parser=``): hiredis when installed, hiredis
#: (refused when not installed), or the pure-Python parsers.
PARSER_CHOICES = ("auto", "hiredis", "python")


class HiredisMissingError(LookupError):
    """``hiredis`` was asked for by name, and is not installed."""


def load_hiredis() -> ModuleType:
    """The ``hiredis`` module (ImportError when it is not installed); imported on first use."""
    import hiredis  # noqa: PLC0415 - optional dependency, imported only when chosen

    return hiredis


def hiredis_available() -> bool:
    try:
        load_hiredis()
    except ImportError:
        return False
    return True


def use_hiredis(choice: str) -> bool:
    """Whether a parser ``choice`` means hiredis, for every parser it serves: the server's
    request parser, the log's replay at start-up (``--parser python``: the standard library
    only, for the logs too) and the client's reply parser. ``auto``: hiredis when installed.
    HiredisMissingError when ``hiredis`` is chosen and not installed; ValueError for a choice
    not in :data:`PARSER_CHOICES`."""
    if choice == "auto":
        return hiredis_available()
    if choice == "hiredis":
        if not hiredis_available():
            raise HiredisMissingError("the hiredis package is not installed")
        return True
    if choice == "python":
        return False
    raise ValueError(f"parser must be 'auto', 'hiredis' or 'python', not {choice!r}")
