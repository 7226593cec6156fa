"""RESP's building blocks, written once: bulk strings and arrays.

The request encoder, the reply encoder (:mod:`~kvstore.protocol.resp_replies`) and the log's
records (which are RESP arrays, :mod:`kvstore.persistence.records`) take their pieces from
here. Where the request path is measured, a caller may inline an expression of this module (a
function call costs more than the expression), but it takes the table and the constants from
here.

Decimal lengths are read by :func:`kvstore.protocol.resp_requests.parse_length` (Redis's
``string2ll`` rule), which the request parser compiles with itself in the compiled build; the
log's scanner and the reply parser read theirs with it too. Whether hiredis parses is decided
in :mod:`kvstore.build`, with the build.
"""

from __future__ import annotations

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
