"""The differential test's entries for the bit commands (SETBIT, GETBIT, BITCOUNT, BITPOS,
BITOP, BITFIELD, BITFIELD_RO), LCS, OBJECT, TOUCH, DUMP and RESTORE (``differential_requests.py``
joins them to the others).

RESTORE's payloads are made by kvstore's own DUMP encoder from values like the other commands'
(Redis must accept every one of them, or the replies differ), then some are damaged: a flipped
byte, a cut, a later RDB version, another type.

Offsets written stay small (the last valid bit offset, 2^32 - 1, would make both servers
allocate 512 MiB); offsets past the limit, negative ones and the ``#`` form's overflow are all
offered, as they are refused before anything is allocated.
"""

from __future__ import annotations

from hypothesis import strategies as st

from differential_table import _NOW_S, INT64_MAX, INT64_MIN, Entry, _words, key, keys, value
from kvstore.commands.dump import crc64, payload


def _sealed(body: bytes) -> bytes:
    return body + crc64(body).to_bytes(8, "little")


def _damaged(whole: bytes, how: int) -> bytes:
    body = whole[:-8]
    if how == 0:  # a flipped byte: the checksum no longer matches
        return bytes([whole[0] ^ 1]) + whole[1:]
    if how == 1:  # cut short
        return whole[: len(whole) // 2]
    if how == 2:  # a later RDB version, checksum right
        return _sealed(body[:-2] + b"\x0b\x00")
    if how == 3:  # another type (a list), checksum right
        return _sealed(b"\x01" + body[1:])
    return _sealed(body[:-3] + body[-2:])  # the value one byte short, checksum right


_long_value = st.sampled_from([b"a" * 30, b"ab" * 40, b"0123456789" * 5, b"x" * 21, b"%d" % 2**40])
dump_payload = st.one_of(
    st.one_of(value, _long_value).map(payload),
    st.tuples(st.one_of(value, _long_value).map(payload), st.integers(0, 4)).map(
        lambda t: _damaged(*t)
    ),
    st.sampled_from([b"", b"short", b"\x00" * 10]),
)
restore_options = st.lists(
    st.sampled_from(
        [
            [b"REPLACE"],
            [b"replace"],
            [b"ABSTTL"],
            [b"IDLETIME", b"5"],
            [b"FREQ", b"3"],
            [b"FREQ", b"256"],
            [b"IDLETIME", b"-1"],
            [b"IDLETIME"],
            [b"bogus"],
        ]
    ),
    max_size=3,
).map(lambda groups: [word for group in groups for word in group])
#: RESTORE's TTL, safe read either way (ABSTTL or not, whatever the options turn out to be):
#: none; 27 hours ahead or else 1970; 55 years ahead or else tomorrow; refused ones; 2^63 - 1,
#: which as a relative time wraps around to the past, as in Redis.
restore_ttl = st.sampled_from(
    [
        *b"0 0 100000000 -1 x".split(),
        b"",
        b"%d" % ((_NOW_S + 86_400) * 1000),
        b"%d" % INT64_MAX,
    ]
)

_TOO_FAR = [b"4294967296", b"%d" % INT64_MAX, b"#144115188075855872", b"#%d" % INT64_MAX]
_NOT_OFFSETS = [b"-1", b"x", b"", b"-0", b"01", b"#", b"#x", b"1.5"]
#: Bit offsets to write: small ones (within a few bytes), and every kind refused.
write_offset = st.one_of(
    st.integers(0, 40).map(lambda n: b"%d" % n),
    st.sampled_from(_TOO_FAR + _NOT_OFFSETS),
)
#: Bit offsets to read: the written ones, and far ones (reads allocate nothing).
read_offset = st.one_of(write_offset, st.sampled_from([b"4294967295", b"1000000"]))
#: BITFIELD's ``#N`` offsets (N times the width), small ones and overflowing ones.
hashed_offset = st.one_of(
    st.integers(0, 5).map(lambda n: b"#%d" % n),
    st.sampled_from([b"#-1", b"#288230376151711744", b"#%d" % INT64_MAX]),
)
bit = st.sampled_from([b"0", b"1", b"2", b"-1", b"x", b"01"])
#: BITCOUNT/BITPOS range ends: small, negative, huge, and not numbers.
range_end = st.one_of(
    st.integers(-20, 20).map(lambda n: b"%d" % n),
    st.sampled_from([b"%d" % INT64_MAX, b"%d" % INT64_MIN, b"x", b""]),
)
unit = st.sampled_from([b"BIT", b"BYTE", b"bit", b"Byte", b"bits", b""])
range_args: st.SearchStrategy[list[bytes]] = st.one_of(
    st.just([]),
    _words(range_end),
    _words(range_end, range_end),
    _words(range_end, range_end, unit),
    _words(range_end, range_end, unit, unit),
)
field_type = st.sampled_from(
    [*b"i1 u1 i8 u8 i5 u3 i16 u16 i64 u63 u64 i65 i0 x8 I8 i i08 u-1".split(), b""]
)
field_value = st.one_of(
    st.integers(-300, 300).map(lambda n: b"%d" % n),
    st.sampled_from([b"%d" % n for n in (INT64_MAX, INT64_MIN, 2**62, -(2**62), 2**31)]),
    st.sampled_from([b"x", b"1.5", b""]),
)
_field_offset = st.one_of(write_offset, hashed_offset)
bitfield_op = st.one_of(
    _words(st.sampled_from([b"GET", b"get"]), field_type, st.one_of(read_offset, hashed_offset)),
    _words(st.sampled_from([b"SET", b"set"]), field_type, _field_offset, field_value),
    _words(st.sampled_from([b"INCRBY", b"IncrBy"]), field_type, _field_offset, field_value),
    _words(st.just(b"OVERFLOW"), st.sampled_from([b"WRAP", b"sat", b"FAIL", b"Fail", b"bad"])),
    st.sampled_from([[b"GET", b"u8"], [b"bogus"], [b"SET", b"i8", b"0"], [b"OVERFLOW"]]),
)
bitfield_args = st.tuples(key, st.lists(bitfield_op, max_size=4)).map(
    lambda t: [t[0], *(word for op in t[1] for word in op)]
)
_lcs_options = st.lists(
    st.sampled_from(
        [
            *([word] for word in b"LEN IDX idx WITHMATCHLEN MINMATCHLEN bogus".split()),
            [b"MINMATCHLEN", b"2"],
            [b"minmatchlen", b"-1"],
            [b"MINMATCHLEN", b"x"],
        ]
    ),
    max_size=3,
).map(lambda groups: [word for group in groups for word in group])
#: OBJECT's subcommands but IDLETIME (seconds since the last access: kvstore tracks accesses
#: only under an ``-lru`` policy; see test_objects.py), well-formed or not.
_object_args = st.one_of(
    st.tuples(st.sampled_from([b"ENCODING", b"encoding", b"REFCOUNT", b"FREQ"]), key).map(list),
    st.sampled_from(
        [[b"HELP"], [b"help", b"x"], [b"ENCODING"], [b"bogus", b"k1"], [b"REFCOUNT", b"k1", b"x"]]
    ),
)
_bitop_words = st.sampled_from([b"AND", b"or", b"Xor", b"NOT", b"not", b"NAND", b""])

BIT_TABLE: dict[str, Entry] = {
    "setbit": Entry(4, _words(key, write_offset, bit)),
    "getbit": Entry(3, _words(key, read_offset)),
    "bitcount": Entry(-2, st.tuples(key, range_args).map(lambda t: [t[0], *t[1]])),
    "bitpos": Entry(-3, st.tuples(key, bit, range_args).map(lambda t: [t[0], t[1], *t[2]])),
    "bitop": Entry(-4, st.tuples(_bitop_words, key, keys).map(lambda t: [t[0], t[1], *t[2]])),
    "bitfield": Entry(-2, bitfield_args),
    "bitfield_ro": Entry(-2, bitfield_args),
    "object": Entry(-2, _object_args),
    "touch": Entry(-2, keys),
    "dump": Entry(2, _words(key)),
    "restore": Entry(
        -4,
        st.tuples(key, restore_ttl, dump_payload, restore_options).map(
            lambda t: [t[0], t[1], t[2], *t[3]]
        ),
    ),
    "lcs": Entry(-3, st.tuples(key, key, _lcs_options).map(lambda t: [t[0], t[1], *t[2]])),
}
