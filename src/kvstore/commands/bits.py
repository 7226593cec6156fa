"""Bit commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
BITFIELD_RO, with Redis 7.0's replies, errors and order of checks.

A value is a string of bits, the most significant bit of the first byte first. Writes past the
end grow the value with zero bytes; reads past the end see zeros. Offsets stop at Redis's
``proto-max-bulk-len`` (512 MiB of value, so bit 2^32 - 1 is the last): a write at the last
offset allocates 512 MiB, as it does in Redis. Editing a value keeps the key's expiry; BITOP
replaces its destination (and drops its expiry), as SET does.

A write that changes nothing (SETBIT of a bit to its value, BITFIELD SET of the same number)
leaves the key untouched: no WATCH fires and nothing is logged, as in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.commands.context import Session
from kvstore.commands.objects import RAW, edited, encoding_of
from kvstore.commands.substrings import MAX_STRING_LENGTH
from kvstore.commands.table import SYNTAX_ERROR, Args, KeySpec, command, parse_int
from kvstore.protocol.replies import Reply, ReplyError

BAD_OFFSET = "ERR bit offset is not an integer or out of range"
BAD_BIT = "ERR bit is not an integer or out of range"
BAD_TYPE = (
    "ERR Invalid bitfield type. Use something like i16 u8. "
    "Note that u64 is not supported but i64 is."
)
UINT64 = (1 << 64) - 1


def _wrap64(value: int) -> int:
    """``value`` as a C int64 after two's-complement wrap-around."""
    value &= UINT64
    return value - (1 << 64) if value >> 63 else value


def _bit_offset(raw: bytes, hash_bits: int = 0) -> int:
    """A bit offset as Redis reads one: a 64-bit integer, 0 or more, whose byte is within
    ``proto-max-bulk-len``; with ``hash_bits``, ``#N`` means ``N * hash_bits``."""
    hashed = hash_bits > 0 and raw[:1] == b"#"
    offset = parse_int(raw[1:] if hashed else raw, BAD_OFFSET)
    if hashed:
        offset = _wrap64(offset * hash_bits)
    if offset < 0 or (offset >> 3) >= MAX_STRING_LENGTH:
        raise ReplyError(BAD_OFFSET)
    return offset


def _grown(value: bytes | None, bit_offset: int) -> bytearray:
    """A mutable copy of ``value`` (empty if missing) long enough to hold ``bit_offset``."""
    buffer = bytearray(value or b"")
    needed = (bit_offset >> 3) + 1
    if len(buffer) < needed:
        buffer.extend(bytes(needed - len(buffer)))
    return buffer


def _store(session: Session, key: bytes, buffer: bytearray, existed: bool) -> None:
    value = edited(bytes(buffer))  # Redis edits the value in place: raw, whatever it holds
    if existed:
        session.db.set_keep_deadline(key, value)
    else:
        session.db.set(key, value)


def _unshare(session: Session, key: bytes, value: bytes) -> None:
    """A bit write that changed nothing: Redis still makes the value ``raw`` (an object of
    its own), without counting a change."""
    if encoding_of(value) != RAW:
        session.db.swap_equal(key, edited(b"".join((value, b""))))


@command(
    "setbit",
    4,
    "write denyoom",
    group="bitmap",
    summary="Set or clear the bit at an offset of a key's value; reply the bit's old value.",
    keys=(1, 1, 1),
    key_specs="RW access update",
)
def setbit(session: Session, args: Args) -> Reply:
    offset = _bit_offset(args[2])
    on = parse_int(args[3], BAD_BIT)
    if on & ~1:
        raise ReplyError(BAD_BIT)
    key = args[1]
    old = session.db.peek(key)  # a write's look-up: no hit or miss counted, as in Redis
    byte, shift = offset >> 3, 7 - (offset & 7)
    was = old[byte] >> shift & 1 if old is not None and byte < len(old) else 0
    if old is None or byte >= len(old) or was != on:
        buffer = _grown(old, offset)
        buffer[byte] = (buffer[byte] & ~(1 << shift)) | (on << shift)
        _store(session, key, buffer, old is not None)
    else:
        _unshare(session, key, old)
    return was


@command(
    "getbit",
    3,
    "readonly fast",
    group="bitmap",
    summary="The bit at an offset of a key's value (0 past the end or for a missing key).",
    keys=(1, 1, 1),
)
def getbit(session: Session, args: Args) -> Reply:
    offset = _bit_offset(args[2])
    value = session.db.get(args[1])
    byte = offset >> 3
    if value is None or byte >= len(value):
        return 0
    return value[byte] >> (7 - (offset & 7)) & 1


def _range_unit(raw: bytes) -> bool:
    """BIT (True) or BYTE (False), as BITCOUNT and BITPOS read their last argument."""
    word = raw.lower()
    if word == b"bit":
        return True
    if word == b"byte":
        return False
    raise ReplyError(SYNTAX_ERROR)


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    """Negative offsets counted from the end, then both kept within ``[0, total)``."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    return start, min(end, total - 1)


def _popcount(value: bytes, first_bit: int, last_bit: int) -> int:
    """Set bits from ``first_bit`` to ``last_bit`` inclusive."""
    chunk = value[first_bit >> 3 : (last_bit >> 3) + 1]
    number = int.from_bytes(chunk, "big") >> (7 - (last_bit & 7))
    return (number & ((1 << (last_bit - first_bit + 1)) - 1)).bit_count()


@command(
    "bitcount",
    -2,
    "readonly",
    group="bitmap",
    summary="Count the set bits of a key's value, optionally within a range of bytes or bits.",
    keys=(1, 1, 1),
)
def bitcount(session: Session, args: Args) -> Reply:
    value = session.db.get(args[1])
    if value is None:  # Redis looks the key up before it reads anything else
        return 0
    if len(args) == 2:
        return _popcount(value, 0, len(value) * 8 - 1) if value else 0
    if len(args) not in (4, 5):
        raise ReplyError(SYNTAX_ERROR)
    start, end = parse_int(args[2]), parse_int(args[3])
    if start < 0 and end < 0 and start > end:
        return 0
    in_bits = _range_unit(args[4]) if len(args) == 5 else False
    total = len(value) * 8 if in_bits else len(value)
    start, end = _clamp(start, end, total)
    if start > end:
        return 0
    if not in_bits:
        start, end = start * 8, end * 8 + 7
    return _popcount(value, start, end)


def _first_bit(value: bytes, bit: int, first: int, last: int) -> int | None:
    """The offset of the first bit equal to ``bit`` from ``first`` to ``last`` inclusive."""
    chunk = bytearray(value[first >> 3 : (last >> 3) + 1])
    head, tail = first & 7, 7 - (last & 7)
    outside_head = (0xFF << (8 - head)) & 0xFF  # bits before ``first`` in its byte
    outside_tail = (1 << tail) - 1  # bits after ``last`` in its byte
    if bit:
        chunk[0] &= ~outside_head & 0xFF
        chunk[-1] &= ~outside_tail & 0xFF
        skip = b"\x00"
    else:
        chunk[0] |= outside_head
        chunk[-1] |= outside_tail
        skip = b"\xff"
    index = len(chunk) - len(chunk.lstrip(skip))
    if index == len(chunk):
        return None
    byte = chunk[index] if bit else ~chunk[index] & 0xFF
    return ((first >> 3) + index) * 8 + 8 - byte.bit_length()


@command(
    "bitpos",
    -3,
    "readonly",
    group="bitmap",
    summary="The offset of the first set or clear bit of a key's value, optionally in a range.",
    keys=(1, 1, 1),
)
def bitpos(session: Session, args: Args) -> Reply:
    bit = parse_int(args[2])
    if bit not in (0, 1):
        raise ReplyError("ERR The bit argument must be 1 or 0.")
    value = session.db.get(args[1])
    if value is None:  # an endless run of zeros
        return -1 if bit else 0
    if len(args) > 6:
        raise ReplyError(SYNTAX_ERROR)
    in_bits = False
    end_given = len(args) >= 5
    start = parse_int(args[3]) if len(args) >= 4 else 0
    if len(args) == 6:
        in_bits = _range_unit(args[5])
    total = len(value) * 8 if in_bits else len(value)
    end = parse_int(args[4]) if end_given else total - 1
    start, end = _clamp(start, end, total)
    if start > end:
        return -1
    if not in_bits:
        start, end = start * 8, end * 8 + 7
    found = _first_bit(value, bit, start, end)
    if found is not None:
        return found
    if bit or end_given:
        return -1
    return end + 1  # no clear bit in the value: the first of the zeros past its end


_BITOPS = (b"and", b"or", b"xor", b"not")


@command(
    "bitop",
    -4,
    "write denyoom",
    group="bitmap",
    summary="Store the bitwise AND, OR, XOR of keys' values, or the NOT of one, in a key.",
    keys=(2, -1, 1),
    key_specs=(KeySpec(("OW", "update"), 2), KeySpec(("RO", "access"), 3, -1)),
)
def bitop(session: Session, args: Args) -> Reply:
    operation = args[1].lower()
    if operation not in _BITOPS:
        raise ReplyError(SYNTAX_ERROR)
    if operation == b"not" and len(args) != 4:
        raise ReplyError("ERR BITOP NOT must be called with a single source key.")
    db = session.db
    sources = [db.get(key) or b"" for key in args[3:]]
    length = max(len(source) for source in sources)
    target = args[2]
    if not length:
        db.delete(target)
        return 0
    numbers = [int.from_bytes(source.ljust(length, b"\0"), "big") for source in sources]
    result = numbers[0]
    if operation == b"not":
        result = ~result & ((1 << (8 * length)) - 1)
    for number in numbers[1:]:
        if operation == b"and":
            result &= number
        elif operation == b"or":
            result |= number
        else:
            result ^= number
    db.set(target, edited(result.to_bytes(length, "big")))
    return length


# -- BITFIELD -------------------------------------------------------------------------------------

WRAP, SAT, FAIL = "wrap", "sat", "fail"


@dataclass(frozen=True)
class _FieldOp:
    kind: bytes  # b"get", b"set" or b"incrby"
    signed: bool
    bits: int
    offset: int
    number: int  # SET's value or INCRBY's increment
    overflow: str


def _field_type(raw: bytes) -> tuple[bool, int]:
    text = raw.split(b"\0", 1)[0]  # Redis reads the width as a C string
    if text[:1] not in (b"i", b"u"):
        raise ReplyError(BAD_TYPE)
    signed = text[:1] == b"i"
    bits = parse_int(text[1:], BAD_TYPE)
    if bits < 1 or bits > (64 if signed else 63):
        raise ReplyError(BAD_TYPE)
    return signed, bits


def _field_ops(args: Args) -> list[_FieldOp]:
    ops: list[_FieldOp] = []
    overflow = WRAP
    i = 2
    while i < len(args):
        remaining = len(args) - i - 1
        word = args[i].lower()
        if word == b"overflow" and remaining >= 1:
            kind = args[i + 1].lower()
            if kind not in (b"wrap", b"sat", b"fail"):
                raise ReplyError("ERR Invalid OVERFLOW type specified")
            overflow = kind.decode()
            i += 2
            continue
        if not (word == b"get" and remaining >= 2) and not (
            word in (b"set", b"incrby") and remaining >= 3
        ):
            raise ReplyError(SYNTAX_ERROR)
        signed, bits = _field_type(args[i + 1])
        offset = _bit_offset(args[i + 2], bits)
        number = 0 if word == b"get" else parse_int(args[i + 3])
        ops.append(_FieldOp(word, signed, bits, offset, number, overflow))
        i += 3 if word == b"get" else 4
    return ops


def _read_field(value: bytes | bytearray, op: _FieldOp) -> int:
    first = op.offset >> 3
    last = (op.offset + op.bits - 1) >> 3
    chunk = bytes(value[first : last + 1]).ljust(last - first + 1, b"\0")
    shift = 7 - ((op.offset + op.bits - 1) & 7)
    number = (int.from_bytes(chunk, "big") >> shift) & ((1 << op.bits) - 1)
    if op.signed and number >> (op.bits - 1):
        number -= 1 << op.bits
    return number


def _write_field(buffer: bytearray, op: _FieldOp, number: int) -> None:
    first = op.offset >> 3
    last = (op.offset + op.bits - 1) >> 3
    shift = 7 - ((op.offset + op.bits - 1) & 7)
    width = last - first + 1
    mask = ((1 << op.bits) - 1) << shift
    current = int.from_bytes(buffer[first : last + 1], "big")
    current = (current & ~mask) | ((number << shift) & mask)
    buffer[first : last + 1] = current.to_bytes(width, "big")


def _limited(op: _FieldOp, value: int, increment: int) -> tuple[int, bool]:
    """``value + increment`` in the field's type under its overflow rule: the result, and
    whether it overflowed (with FAIL the result is then not used)."""
    bits = op.bits
    if op.signed:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        low, high = 0, (1 << bits) - 1
    total = value + increment
    if low <= total <= high:
        return total, False
    if op.overflow == SAT:
        return (high if total > high else low), True
    wrapped = total & ((1 << bits) - 1)
    if op.signed and wrapped >> (bits - 1):
        wrapped -= 1 << bits
    return wrapped, True


def _bitfield(session: Session, args: Args, read_only: bool) -> Reply:
    ops = _field_ops(args)
    db = session.db
    key = args[1]
    writes = [op for op in ops if op.kind != b"get"]
    if not writes:
        value = db.get(key) or b""
        return [_read_field(value, op) for op in ops]
    if read_only:
        raise ReplyError("ERR BITFIELD_RO only supports the GET subcommand")
    old = db.peek(key)
    highest = max(op.offset + op.bits - 1 for op in writes)
    buffer = _grown(old, highest)
    changed = old is None or len(buffer) != len(old)
    replies: list[Reply] = []
    for op in ops:
        current = _read_field(buffer, op)
        if op.kind == b"get":
            replies.append(current)
            continue
        if op.kind == b"incrby":
            new, overflowed = _limited(op, current, op.number)
            reply = new
        else:
            number = op.number if op.signed else op.number & UINT64
            new, overflowed = _limited(op, number, 0)
            reply = current
        if overflowed and op.overflow == FAIL:
            replies.append(None)
            continue
        replies.append(reply)
        if new != current:
            _write_field(buffer, op, new)
            changed = True
    if changed:
        _store(session, key, buffer, old is not None)
    elif old is not None:
        _unshare(session, key, old)
    return replies


@command(
    "bitfield",
    -2,
    "write denyoom",
    group="bitmap",
    summary="Read, set and increment integer fields of any width at any bit offset of a value.",
    keys=(1, 1, 1),
    key_specs=(
        KeySpec(
            ("RW", "access", "update", "variable_flags"),
            1,
            notes="This command allows both access and modification of the key",
        ),
    ),
)
def bitfield(session: Session, args: Args) -> Reply:
    return _bitfield(session, args, read_only=False)


@command(
    "bitfield_ro",
    -2,
    "readonly fast",
    group="bitmap",
    summary="Read integer fields of a value (BITFIELD's GET only).",
    keys=(1, 1, 1),
)
def bitfield_ro(session: Session, args: Args) -> Reply:
    return _bitfield(session, args, read_only=True)
