"""LZF, the compression RDB files and DUMP payloads use for strings, in pure Python.

The format: a stream of literal runs (a control byte ``n - 1`` below 32, then ``n`` bytes) and
back references (length ``L + 2`` in the top 3 bits of the control byte, 7 meaning "one more
byte of length follows", and a 13-bit distance ``D`` meaning "copy from ``D + 1`` bytes back").

:func:`compress` makes the choices Redis's liblzf (3.6, built with ``HLOG 16`` and
``VERY_FAST``) makes, so DUMP's payloads match Redis's byte for byte: a hash of each position's
next three bytes indexes a table of the last position seen with that hash; a candidate is taken
when it is fewer than 8192 bytes back, not at offset 0, and its three bytes match; the match is
then extended up to 264 bytes; after a match the two positions before its end are hashed again.
It gives up (None) once the output would not fit ``limit`` bytes, as liblzf does given an
output buffer that small. (liblzf does not clear its table between calls, so stale entries
could in principle turn up a match this version does not see; they need three equal bytes at a
stale address inside the new input, which real inputs practically never show.)
"""

from __future__ import annotations

MAX_LITERAL = 32
MAX_DISTANCE = 1 << 13
MAX_MATCH = (1 << 8) + (1 << 3)  # 264


def _slot(data: bytes, i: int) -> int:
    """The hash-table slot of the three bytes at ``i`` (liblzf's ``IDX`` of ``NEXT(FRST)``:
    only the low 16 bits count, and they depend on these three bytes only)."""
    return (((data[i] << 8) | data[i + 1]) - 5 * ((data[i + 1] << 8) | data[i + 2])) & 0xFFFF


def compress(data: bytes, limit: int) -> bytes | None:
    """``data`` compressed into at most ``limit`` bytes, or None if it does not fit (or
    either is empty)."""
    size = len(data)
    if not size or limit <= 0:
        return None
    out = bytearray(limit + 8)
    table: dict[int, int] = {}
    ip = 0
    op = 1  # out[op - lit - 1] is the open literal run's control byte
    lit = 0
    end = size - 2
    while ip < end:
        slot = _slot(data, ip)
        ref = table.get(slot)
        table[slot] = ip
        if (
            ref is not None
            and ref > 0
            and ip - ref - 1 < MAX_DISTANCE
            and data[ref + 2] == data[ip + 2]
            and data[ref] == data[ip]
            and data[ref + 1] == data[ip + 1]
        ):
            distance = ip - ref - 1
            longest = min(size - ip - 2, MAX_MATCH)
            if op + 4 >= limit and op - (lit == 0) + 4 >= limit:
                return None
            out[op - lit - 1] = (lit - 1) & 0xFF  # close the literal run
            op -= lit == 0  # an empty run takes no control byte
            length = 3
            if longest > 16:
                # liblzf compares 16 more bytes before it looks at the limit again
                while length < 19 and data[ref + length] == data[ip + length]:
                    length += 1
                if length == 19:
                    while length < longest and data[ref + length] == data[ip + length]:
                        length += 1
            else:
                while length < longest and data[ref + length] == data[ip + length]:
                    length += 1
            code = length - 2
            if code < 7:
                out[op] = (distance >> 8) + (code << 5)
                op += 1
            else:
                out[op] = (distance >> 8) + (7 << 5)
                out[op + 1] = code - 7
                op += 2
            out[op] = distance & 0xFF
            op += 2  # and a new literal run opens
            lit = 0
            ip += length
            if ip >= end:
                break
            table[_slot(data, ip - 2)] = ip - 2
            table[_slot(data, ip - 1)] = ip - 1
        else:
            if op >= limit:
                return None
            out[op] = data[ip]
            op += 1
            ip += 1
            lit += 1
            if lit == MAX_LITERAL:
                out[op - lit - 1] = lit - 1
                lit = 0
                op += 1
    if op + 3 > limit:
        return None
    while ip < size:
        out[op] = data[ip]
        op += 1
        ip += 1
        lit += 1
        if lit == MAX_LITERAL:
            out[op - lit - 1] = lit - 1
            lit = 0
            op += 1
    out[op - lit - 1] = (lit - 1) & 0xFF
    op -= lit == 0
    return bytes(out[:op])


def decompress(data: bytes, size: int) -> bytes | None:
    """The ``size`` bytes ``data`` decompresses to, or None if it is not well-formed LZF of
    exactly that size. (liblzf reports any failure as 0 bytes written, which its callers
    take for success when 0 bytes were expected: so does this.)"""
    out = _decompress(data, size)
    if out is None or len(out) != size:
        return b"" if size == 0 else None
    return out


def _decompress(data: bytes, size: int) -> bytes | None:
    out = bytearray()
    ip = 0
    end = len(data)
    while ip < end:
        control = data[ip]
        ip += 1
        if control < 32:  # a literal run
            count = control + 1
            if len(out) + count > size or ip + count > end:
                return None
            out += data[ip : ip + count]
            ip += count
            continue
        length = control >> 5
        if ip >= end:
            return None
        if length == 7:
            length += data[ip]
            ip += 1
            if ip >= end:
                return None
        start = len(out) - ((control & 0x1F) << 8) - 1 - data[ip]
        ip += 1
        length += 2
        if len(out) + length > size or start < 0:
            return None
        if start + length <= len(out):
            out += out[start : start + length]
        else:  # the copy overlaps what it writes: byte by byte
            for i in range(start, start + length):
                out.append(out[i])
    return bytes(out)
