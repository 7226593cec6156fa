"""Redis's inline requests: a command typed as words on one line, inside a RESP connection.

A request that does not start with ``*`` where one is due is read as Redis reads it: one line,
ending at ``\\n`` (a ``\\r`` before it dropped), split into arguments by Redis's quoting rules
(its ``sdssplitargs``): blanks separate words; ``"..."`` takes the escapes ``\\n \\r \\t \\b \\a``,
``\\xHH`` and a backslash before any other byte; ``'...'`` takes ``\\'`` alone; a closing quote
must be followed by a blank or the end of the line. A line of blanks is no request.
"""

from __future__ import annotations

import re

#: The longest inline request line, as Redis's PROTO_INLINE_MAX_SIZE.
MAX_INLINE = 64 * 1024

_BLANKS = b" \t\n\r\v\f"
_ENDS_WORD = b" \n\r\t"
_ESCAPES = {ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09, ord("b"): 0x08, ord("a"): 0x07}
_HEX = b"0123456789abcdefABCDEF"
#: Inside a word, only space, tab, CR and LF end it: a vertical tab or form feed is no
#: separator there (though blanks around words may hold them).
_QUOTES_OR_ODD_BLANKS = re.compile(rb"[\"'\v\f]")


def split_inline_args(line: bytes) -> list[bytes] | None:
    """The arguments of an inline request line; None if its quotes are unbalanced.

    A NUL byte ends the line, as it ends the C string Redis splits.
    """
    cut = line.find(b"\x00")
    if cut >= 0:
        line = line[:cut]
    if not _QUOTES_OR_ODD_BLANKS.search(line):
        return line.split()  # the common case: bytes.split() splits on the blanks alone
    args: list[bytes] = []
    size = len(line)
    pos = 0
    while True:
        while pos < size and line[pos] in _BLANKS:
            pos += 1
        if pos >= size:
            return args
        word = bytearray()
        in_double = in_single = False
        while True:
            byte = line[pos] if pos < size else 0
            after = line[pos + 1] if pos + 1 < size else 0
            if in_double:
                if (
                    byte == 0x5C  # backslash
                    and after == ord("x")
                    and pos + 3 < size
                    and line[pos + 2] in _HEX
                    and line[pos + 3] in _HEX
                ):
                    word.append(int(line[pos + 2 : pos + 4], 16))
                    pos += 3
                elif byte == 0x5C and after:
                    pos += 1
                    word.append(_ESCAPES.get(after, after))
                elif byte == 0x22:  # the closing quote: a blank or the end must follow
                    if after and after not in _BLANKS:
                        return None
                    pos += 1
                    break
                elif not byte:
                    return None
                else:
                    word.append(byte)
            elif in_single:
                if byte == 0x5C and after == 0x27:
                    pos += 1
                    word.append(0x27)
                elif byte == 0x27:
                    if after and after not in _BLANKS:
                        return None
                    pos += 1
                    break
                elif not byte:
                    return None
                else:
                    word.append(byte)
            elif not byte or byte in _ENDS_WORD:
                break
            elif byte == 0x22:
                in_double = True
            elif byte == 0x27:
                in_single = True
            else:
                word.append(byte)
            pos += 1
        args.append(bytes(word))
