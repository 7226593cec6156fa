"""The differential test's table for the string commands and the server basics: for each
command, a strategy for its arguments and how its replies are compared (the key, expiry,
transaction and server commands are in ``differential_keys.py``).

To cover a new command, add an :class:`Entry` to :data:`TABLE` (or to ``KEY_TABLE``): a
strategy for well-formed arguments (keys from :data:`KEYS` so that commands collide, values
that are often numbers), the command's arity (wrong-arity requests are then generated from
it), and a comparison when bytes cannot match exactly (``within(...)`` for TTL/PTTL,
``unordered`` for KEYS, ``scan_page`` for SCAN). Times are chosen far from "now" (at least
100 s ahead, or decades past), so no key expires between the moment Redis answers and the
moment kvstore does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import strategies as st

from differential_support import Compare, exact

Args = list[bytes]

KEYS = [b"k1", b"k2", b"k3", b"{k}4"]
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_NOW_S = int(time.time())

key = st.sampled_from(KEYS)
keys = st.lists(key, min_size=1, max_size=4)


def _exact_decimal(value: Fraction) -> bytes:
    whole, rest = divmod(abs(value.numerator) * 10**18 // value.denominator, 10**18)
    return b"%s%d.%018d" % (b"-" if value < 0 else b"", whole, rest)


def _text(values: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    return values.map(lambda number: b"%d" % number)


#: Integers as Redis reads them, the 64-bit edges, and text that is not quite an integer.
integer = st.one_of(
    _text(st.integers(-5, 20)),
    _text(st.integers(INT64_MIN, INT64_MAX)),
    st.sampled_from(
        [
            b"%d" % n
            for n in (INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1, 2**63, -(2**63) - 1)
        ]
    ),
    st.sampled_from([b"", b"-0", b"+1", b"01", b" 1", b"1 ", b"1.0", b"abc", b"-", b"1e3"]),
)
#: Floats as strtold reads them (or refuses them), including x87 rounding and printing traps.
floating = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda value: repr(value).encode()),
    # Odd multiples of 2**-18 have 18 decimals ending in 5: "%.17Lf" must round them to even.
    st.integers(-(2**40), 2**40).map(lambda n: _exact_decimal(Fraction(2 * n + 1, 2**18))),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda value: b"%.3f" % value),
    st.sampled_from(
        [
            *b"""0.1 10.5 -0.1 1e3 1.5e-3 3.0 .5 5. -0 -0.0 0x10 0x1p-3 inf -inf +inf nan 1e5000
            1e-5000 0.000003814697265625 1.18973149535723176502e+4932 5e-18 1e-17
            9007199254740993 18446744073709551615.5 1e 0x""".split(),
            b" 1",
            b"1 ",
        ]
    ),
)
value = st.one_of(
    integer,
    floating,
    st.binary(max_size=6),
    st.sampled_from([b"", b"hello", b"a b", b"\r\n", b"\x00\xff"]),
)
#: Expire times: valid ones far from now (at least 100 s ahead, or decades past), and every
#: kind Redis refuses.
_FUTURE_S, _FUTURE_MS = _NOW_S + 86_400, (_NOW_S + 86_400) * 1000
_REFUSED = [b"0", b"-1", b"abc", b"1.5", b"", b"%d" % INT64_MAX, b"%d" % (INT64_MAX // 1000 + 1)]
relative_amount = st.one_of(
    _text(st.integers(100_000, 10**9)),
    st.sampled_from([b"%d" % (INT64_MAX // 1000), b"%d" % _FUTURE_MS, *_REFUSED]),
)
absolute_amount = st.sampled_from(
    [b"%d" % n for n in (_FUTURE_S, _FUTURE_MS, 1, 1000, INT64_MAX // 1000)] + _REFUSED
)
_RELATIVE_WORDS = [b"EX", b"PX", b"ex", b"Px"]
_ABSOLUTE_WORDS = [b"EXAT", b"PXAT", b"exat", b"pXaT"]
expiry_option = st.one_of(
    st.tuples(st.sampled_from(_RELATIVE_WORDS), relative_amount),
    st.tuples(st.sampled_from(_ABSOLUTE_WORDS), absolute_amount),
).map(list)
_FLAG_WORDS = [b"NX", b"XX", b"GET", b"KEEPTTL", b"PERSIST", b"nx", b"get", b"bogus", b"EX"]
set_options = st.lists(
    st.one_of(st.sampled_from(_FLAG_WORDS).map(lambda word: [word]), expiry_option), max_size=3
).map(lambda groups: [word for group in groups for word in group])
#: Offsets for GETRANGE/SETRANGE: small ones, and ones past the 512 MiB cap (never just under
#: it: that would allocate half a gigabyte on both servers).
offset = st.one_of(
    _text(st.integers(-12, 12)),
    st.sampled_from([b"536870912", b"%d" % 2**40, b"%d" % INT64_MAX, b"%d" % INT64_MIN, b"x"]),
)


@dataclass(frozen=True)
class Entry:
    """How to generate one command's arguments and compare its replies."""

    arity: int  # as Redis counts it, the name included; negative means "at least"
    args: st.SearchStrategy[Args]
    compare: Compare = exact


def _words(*parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[Args]:
    return st.tuples(*parts).map(list)


def _pairs(min_size: int = 1) -> st.SearchStrategy[Args]:
    return st.lists(st.tuples(key, value), min_size=min_size, max_size=3).map(
        lambda pairs: [word for pair in pairs for word in pair]
    )


NONE: st.SearchStrategy[Args] = st.just([])

TABLE: dict[str, Entry] = {
    # -- strings
    "get": Entry(2, _words(key)),
    "set": Entry(-3, st.tuples(_words(key, value), set_options).map(lambda t: t[0] + t[1])),
    "setnx": Entry(3, _words(key, value)),
    "setex": Entry(4, _words(key, relative_amount, value)),
    "psetex": Entry(4, _words(key, relative_amount, value)),
    "getset": Entry(3, _words(key, value)),
    "getdel": Entry(2, _words(key)),
    "getex": Entry(
        -2,
        st.tuples(
            key,
            st.lists(
                st.one_of(st.sampled_from([[b"PERSIST"], [b"persist"], [b"NX"]]), expiry_option),
                max_size=2,
            ),
        ).map(lambda t: [t[0], *(word for group in t[1] for word in group)]),
    ),
    "mget": Entry(-2, keys),
    "mset": Entry(-3, _pairs()),
    "msetnx": Entry(-3, _pairs()),
    "append": Entry(3, _words(key, value)),
    "strlen": Entry(2, _words(key)),
    "getrange": Entry(4, _words(key, offset, offset)),
    "setrange": Entry(4, _words(key, offset, value)),
    "incr": Entry(2, _words(key)),
    "decr": Entry(2, _words(key)),
    "incrby": Entry(3, _words(key, integer)),
    "decrby": Entry(3, _words(key, integer)),
    "incrbyfloat": Entry(3, _words(key, floating)),
    # -- keys and the server
    "del": Entry(-2, keys),
    "exists": Entry(-2, keys),
    "dbsize": Entry(1, NONE),
    "flushdb": Entry(-1, st.sampled_from([[], [b"ASYNC"], [b"sync"], [b"bogus"], [b"a", b"b"]])),
    "flushall": Entry(-1, st.sampled_from([[], [b"SYNC"], [b"async"], [b"now"]])),
    # -- connection
    "ping": Entry(-1, st.one_of(NONE, _words(value), _words(value, value))),
    "echo": Entry(2, _words(value)),
    # -- cluster mode (off here, as on the reference: refused the same way)
    "readonly": Entry(1, NONE),
    "readwrite": Entry(1, NONE),
    "asking": Entry(1, NONE),
    "cluster": Entry(
        -2,
        st.sampled_from(
            [
                [b"INFO"],
                [b"SLOTS"],
                [b"KEYSLOT", b"a"],
                [b"KEYSLOT"],
                [b"nosuch"],
                [b"myid"],
                [b"HELP"],
            ]
        ),
    ),
    "select": Entry(2, _words(st.sampled_from([b"0", b"1", b"15", b"16", b"-1", b"x", b"00"]))),
    "auth": Entry(
        -2,
        st.sampled_from(
            [[b"secret"], [b"default", b"anything"], [b"someone", b"pw"], [b"a", b"b", b"c"]]
        ),
    ),
    "client": Entry(
        -2,
        st.sampled_from(
            [
                [b"SETNAME", b"tester"],
                [b"setname", b"two words"],
                [b"GETNAME"],
                [b"bogus"],
                [b"KILL", b"1.2.3.4:5"],
                [b"kill", b"id", b"abc"],
                [b"kill", b"id", b"0"],
                [b"kill", b"id", b"99999"],
                [b"kill", b"type", b"bogus"],
                [b"kill", b"type", b"pubsub"],
                [b"kill", b"foo", b"bar"],
                [b"kill", b"addr"],
                [b"no-evict", b"maybe"],
                [b"no-evict", b"on"],
                [b"NO-EVICT", b"OFF"],
            ]
        ),
    ),
    # -- pub/sub (nobody subscribes in these sequences: see test_pubsub.py for subscribers)
    "publish": Entry(3, _words(st.sampled_from([b"c1", b"c2", b""]), value)),
    "spublish": Entry(3, _words(key, value)),
    "pubsub": Entry(
        -2,
        st.sampled_from(
            [
                [b"NUMSUB"],
                [b"numsub", b"c1", b"c2"],
                [b"NUMPAT"],
                [b"numpat", b"x"],
                [b"CHANNELS"],
                [b"channels", b"c*"],
                [b"SHARDCHANNELS"],
                [b"SHARDNUMSUB", b"k1"],
                [b"HELP"],
                [b"bogus"],
            ]
        ),
    ),
    # Redis echoes the arguments as raw bytes, kvstore as UTF-8: compared on ASCII only.
    "nosuchcommand": Entry(-1, st.lists(st.binary(max_size=70).filter(bytes.isascii), max_size=3)),
}
