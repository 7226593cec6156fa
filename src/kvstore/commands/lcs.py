"""LCS: the longest common subsequence of two keys' values, with Redis 7.0's options (LEN, IDX,
MINMATCHLEN, WITHMATCHLEN), replies and errors.

Redis fills a table of ``(len(a) + 1) * (len(b) + 1)`` lengths, refusing when it would take
more than ``proto-max-bulk-len`` bytes (4 bytes a cell), then walks it back from the end to
spell the subsequence and its matching ranges. Here each row of that table is one integer of
``len(b)`` bits (Hyyrö's bit-parallel LCS): a zero bit ``j`` in row ``i`` means the length
grows by one at column ``j + 1``, so any cell is a popcount, and filling the table costs a few
big-integer operations per byte of the shorter value instead of a Python loop per cell. The
walk back is a Python step per byte of both values: on the largest tables Redis accepts with
one value tiny (8 bytes against 16 MiB) it takes seconds, as KEYS on a large table does. The
walk back takes the same steps as Redis's, so the ranges (and the subsequence chosen among
equally long ones) are Redis's.
"""

from __future__ import annotations

from typing import Any

from kvstore.commands.context import Session
from kvstore.commands.substrings import MAX_STRING_LENGTH
from kvstore.commands.table import SYNTAX_ERROR, Args, command, parse_int
from kvstore.protocol.replies import Reply, ReplyError


class _Table:
    """The LCS lengths of every prefix of ``a`` against every prefix of ``b``.

    One row per prefix of the shorter value (fewer Python steps), each an integer with a bit
    per byte of the longer one; only the bit masks of bytes the shorter value holds are made
    (at C speed, with ``bytes.translate``), so building costs at most the table's size in
    byte operations. Reading a cell is a popcount; the walk back reads cells next to the
    ones it read before: a row read more than a few times is turned into a string of bits
    once, and a cell is then the previous one plus the zeros in between (``str.count``).
    """

    def __init__(self, a: bytes, b: bytes) -> None:
        self.transposed = len(b) < len(a)
        rows_of, bits_of = (b, a) if self.transposed else (a, b)
        self.width = len(bits_of)
        everything = (1 << self.width) - 1
        masks = {byte: _mask(bits_of, byte) for byte in set(rows_of)}
        row = everything
        self.rows = [row]
        for byte in rows_of:
            found = row & masks[byte]
            row = ((row + found) | (row - found)) & everything
            self.rows.append(row)
        #: row -> [its bits as text, the last column read, the length there]
        self._read: dict[int, list[Any]] = {}

    def length(self, i: int, j: int) -> int:
        """LCS(a[:i], b[:j])."""
        row, column = (j, i) if self.transposed else (i, j)
        entry = self._read.get(row)
        if entry is None:
            if len(self._read) >= 4:  # the walk back never returns to a row it left
                self._read.clear()
            entry = self._read[row] = [None, 0, 0, 0]
        bits, last, value, reads = entry
        if bits is None:
            if reads < 8:  # a popcount (no text) while few cells of the row are read
                entry[3] = reads + 1
                return column - (self.rows[row] & ((1 << column) - 1)).bit_count()
            bits = entry[0] = format(self.rows[row], "b").zfill(self.width)[::-1]
            last, value = 0, 0
        if column < last:
            value -= bits[column:last].count("0")
        elif column > last:
            value += bits[last:column].count("0")
        entry[1], entry[2] = column, value
        return int(value)


def _mask(text: bytes, byte: int) -> int:
    """The integer whose bit ``j`` is set where ``text[j] == byte``."""
    table = bytes(0x31 if k == byte else 0x30 for k in range(256))
    return int(text.translate(table)[::-1], 2)


def _options(args: Args) -> tuple[bool, bool, bool, int]:
    get_len = get_idx = with_len = False
    min_len = 0
    i = 3
    while i < len(args):
        option = args[i].lower()
        if option == b"idx":
            get_idx = True
        elif option == b"len":
            get_len = True
        elif option == b"withmatchlen":
            with_len = True
        elif option == b"minmatchlen" and i + 1 < len(args):
            min_len = max(parse_int(args[i + 1]), 0)
            i += 1
        else:
            raise ReplyError(SYNTAX_ERROR)
        i += 1
    if get_len and get_idx:
        raise ReplyError("ERR If you want both the length and indexes, please just use IDX.")
    return get_len, get_idx, with_len, min_len


@command(
    "lcs",
    -3,
    "readonly",
    group="string",
    summary="The longest common subsequence of two keys' values, its length or its ranges.",
    keys=(1, 2, 1),
)
def lcs(session: Session, args: Args) -> Reply:
    db = session.db
    a = db.get(args[1]) or b""
    b = db.get(args[2]) or b""
    get_len, get_idx, with_len, min_len = _options(args)
    if (len(a) + 1) * (len(b) + 1) * 4 > MAX_STRING_LENGTH:
        raise ReplyError(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        )
    table = _Table(a, b)
    total = table.length(len(a), len(b))
    if get_len:
        return total
    spelt = bytearray(total)
    ranges: list[Reply] = []
    unset = len(a)  # Redis's marker for "no range open"
    a_start = a_end = b_start = b_end = unset
    i, j, index = len(a), len(b), total
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            spelt[index - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            index -= 1
            i -= 1
            j -= 1
        else:
            if table.length(i - 1, j) > table.length(i, j - 1):
                i -= 1
            else:
                j -= 1
            if a_start != unset:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if get_idx and (min_len == 0 or match_len >= min_len):
                entry: list[Reply] = [[a_start, a_end], [b_start, b_end]]
                if with_len:
                    entry.append(match_len)
                ranges.append(entry)
            a_start = unset
    if get_idx:
        return {b"matches": ranges, b"len": total}
    return bytes(spelt)
