"""The differential test's entries for key, expiry, transaction and server commands (the
string commands are in ``differential_table.py``; ``differential_requests.py`` joins them).

Deadlines never fall during a run, and no comparison depends on which of the two servers ran
a moment later:

- relative times (EXPIRE, PEXPIRE, SET EX...) put deadlines between 100 s and 32 years ahead,
  or further than 55 years; absolute futures (EXPIREAT, PEXPIREAT) are 35 and 40 years ahead,
  so an absolute deadline never ties with a relative one;
- GT is not offered with relative times: the same amount given twice makes a deadline later
  by however long passed in between (0 ms or more), so GT's answer would depend on timing.
  LT with the same amount is refused whatever the timing, so it is offered;
- past deadlines (1, 0, negative) delete the key at once on both servers.
"""

from __future__ import annotations

from hypothesis import strategies as st

from differential_support import clock, info_shape, one_of, scan_page, unordered, within
from differential_table import (
    _NOW_S,
    INT64_MAX,
    INT64_MIN,
    KEYS,
    NONE,
    Args,
    Entry,
    _words,
    key,
    keys,
    relative_amount,
)
from kvstore.commands import COMMANDS
from kvstore.commands.table import SUBCOMMAND_TABLES

_YEAR_S = 365 * 86_400
_FUTURE_A_S, _FUTURE_B_S = _NOW_S + 35 * _YEAR_S, _NOW_S + 40 * _YEAR_S
_NOT_INTEGERS = [b"abc", b"1.5", b"", b" 1", b"+1"]

#: EXPIRE/PEXPIRE amounts: the SET EX ones (far ahead, 0, -1 and refused ones) and more edges.
expire_amount = st.one_of(
    relative_amount,
    st.sampled_from(
        [b"-100", b"%d" % INT64_MIN, b"%d" % (INT64_MIN // 1000), b"%d" % (INT64_MIN // 1000 - 1)]
    ),
)
#: EXPIREAT/PEXPIREAT times: two far futures in both units, the past, the 64-bit edges.
expire_time = st.sampled_from(
    [
        b"%d" % n
        for n in (
            _FUTURE_A_S,
            _FUTURE_B_S,
            _FUTURE_A_S * 1000,
            _FUTURE_B_S * 1000,
            1,
            1000,
            0,
            -1,
            INT64_MAX // 1000,
            INT64_MAX // 1000 + 1,
            INT64_MAX,
            INT64_MIN,
        )
    ]
    + _NOT_INTEGERS
)
_CONDITION_WORDS = [b"NX", b"XX", b"GT", b"LT", b"nx", b"gt", b"Lt", b"bogus", b"X\x00X"]
absolute_conditions = st.lists(st.sampled_from(_CONDITION_WORDS), max_size=3)
relative_conditions = st.one_of(
    st.lists(st.sampled_from([b"NX", b"XX", b"LT", b"xx", b"lt"]), max_size=2),
    # Refused whatever the key: GT is harmless here.
    st.sampled_from([[b"GT", b"LT"], [b"NX", b"GT"], [b"gt", b"bogus"], [b"XX", b"NX", b"GT"]]),
)


def _expire(amount: st.SearchStrategy[bytes], conditions: st.SearchStrategy[Args]) -> Entry:
    return Entry(-3, st.tuples(_words(key, amount), conditions).map(lambda t: t[0] + t[1]))


#: KEYS and SCAN MATCH patterns: Redis's glob, including classes, escapes and broken ones.
pattern = st.sampled_from(
    [
        *b"* k* k? ? *4 {k}* \\{k}4 [k]1 k[1-2] k[^1] k[!1]* *[3-1] [ k[ k\\1 *k* k1 K1".split(),
        b"",
        b"k[\\]1]",
        b"\\*",
    ]
)
#: SCAN's options after the cursor, well-formed or not.
scan_options = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([b"COUNT", b"count"]),
            st.sampled_from([b"1", b"2", b"3", b"10", b"1000", b"0", b"-1", b"x"]),
        ),
        st.tuples(st.sampled_from([b"MATCH", b"match"]), pattern),
        st.tuples(
            st.sampled_from([b"TYPE", b"type"]),
            st.sampled_from([b"string", b"STRING", b"hash", b"none", b"bogus"]),
        ),
        st.sampled_from([(b"COUNT",), (b"bogus", b"1"), (b"MATCH",)]),
    ),
    max_size=2,
).map(lambda groups: [word for group in groups for word in group])
# SCAN requests in a sequence start a scan (or are refused): a cursor of one server means
# nothing to the other. Whole iterations are the state machine's ``scan_through`` rule.
_scan_cursor = st.sampled_from([b"0", b"00", b"", b"abc", b"1.5", b" 0", b"18446744073709551616"])

#: Database numbers: ones that exist, the edges, and text that is none.
_database = st.sampled_from([b"0", b"1", b"15", b"16", b"-1", b"x", b"01"])

_copy_options = st.sampled_from(
    [
        [b"DB", b"2"],
        [b"DB", b"15", b"REPLACE"],
        [],
        [b"REPLACE"],
        [b"replace"],
        [b"DB", b"0"],
        [b"db", b"0", b"REPLACE"],
        [b"DB", b"1"],
        [b"DB", b"-1"],
        [b"DB", b"x"],
        [b"DB", b"2147483648"],
        [b"DB"],
        [b"REPLACE", b"bogus"],
    ]
)
_info_sections = st.lists(
    st.sampled_from(
        b"keyspace KEYSPACE server clients stats cpu replication memory default all bogus".split()
    ),
    max_size=2,
)

#: Commands COMMAND INFO is asked about: kvstore's, but the containers (their subcommands come in
#: each server's own order).
_COMMAND_NAMES = [
    name for name in sorted(COMMANDS) if name not in SUBCOMMAND_TABLES and name != b"slowlog"
]
_GETKEYS_CASES = [
    [b"get", b"k"],
    [b"set", b"k", b"v"],
    [b"set", b"k", b"v", b"GET"],
    [b"mset", b"a", b"1", b"b", b"2"],
    [b"bitop", b"AND", b"d", b"s1", b"s2"],
    [b"bitfield", b"k", b"GET", b"u8", b"0"],
    [b"bitfield", b"k", b"INCRBY", b"u8", b"0", b"1"],
    [b"rename", b"a", b"b"],
    [b"copy", b"a", b"b", b"REPLACE"],
    [b"lcs", b"a", b"b"],
    [b"del", b"a", b"b", b"c"],
    [b"object", b"encoding", b"k"],
    [b"object", b"bogus", b"k"],
    [b"get"],
    [b"get", b"a", b"b"],
    [b"ping", b"x"],
    [b"nosuch", b"a"],
]

KEY_TABLE: dict[str, Entry] = {
    # -- keys
    "type": Entry(2, _words(key)),
    "unlink": Entry(-2, keys),
    "rename": Entry(3, _words(key, key)),
    "renamenx": Entry(3, _words(key, key)),
    "copy": Entry(-3, st.tuples(_words(key, key), _copy_options).map(lambda t: t[0] + t[1])),
    "keys": Entry(2, _words(pattern), unordered),
    "scan": Entry(
        -2, st.tuples(_words(_scan_cursor), scan_options).map(lambda t: t[0] + t[1]), scan_page
    ),
    "randomkey": Entry(1, NONE, one_of(KEYS)),
    # -- databases (the sequence's connection may SELECT another: both servers follow it)
    "move": Entry(3, _words(key, _database)),
    "swapdb": Entry(3, _words(_database, _database)),
    # -- expiry
    "expire": _expire(expire_amount, relative_conditions),
    "pexpire": _expire(expire_amount, relative_conditions),
    "expireat": _expire(expire_time, absolute_conditions),
    "pexpireat": _expire(expire_time, absolute_conditions),
    "ttl": Entry(2, _words(key), within(2)),
    "pttl": Entry(2, _words(key), within(2000)),
    "expiretime": Entry(2, _words(key), within(2)),
    "pexpiretime": Entry(2, _words(key), within(2000)),
    "persist": Entry(2, _words(key)),
    # -- transactions (the state machine follows MULTI and compares EXEC's replies one by one)
    "multi": Entry(1, NONE),
    "exec": Entry(1, NONE),
    "discard": Entry(1, NONE),
    "watch": Entry(-2, keys),
    "unwatch": Entry(1, NONE),
    # -- the server
    "time": Entry(1, NONE, clock),
    "info": Entry(-1, _info_sections, info_shape),
    "reset": Entry(1, NONE),
    # COMMAND on kvstore's own commands (Redis has hundreds more, so no bare COMMAND, COUNT or
    # LIST; containers list their subcommands in each server's own order: test_command.py).
    "command": Entry(
        -1,
        st.one_of(
            st.lists(st.sampled_from(_COMMAND_NAMES), min_size=1, max_size=3).map(
                lambda names: [b"INFO", *names]
            ),
            st.tuples(
                st.sampled_from([b"GETKEYS", b"getkeysandflags"]),
                st.sampled_from(_GETKEYS_CASES),
            ).map(lambda t: [t[0], *t[1]]),
            st.sampled_from([[b"bogus"], [b"COUNT", b"x"], [b"GETKEYS"], [b"INFO", b"nosuch"]]),
        ),
    ),
    # LATENCY with the monitor off (Redis's default), as kvstore always runs: DOCTOR's words
    # and HELP's lines are each server's own.
    "latency": Entry(
        -2,
        st.sampled_from(
            [
                [b"LATEST"],
                [b"HISTORY", b"command"],
                [b"RESET"],
                [b"reset", b"command", b"x"],
                [b"GRAPH", b"command"],
                [b"GRAPH"],
                [b"LATEST", b"x"],
                [b"bogus"],
            ]
        ),
    ),
    # FUNCTION and SCRIPT with nothing loaded: kvstore runs no scripts (HELP, STATS and LOAD
    # of a real library differ; see test_scripting.py).
    "function": Entry(
        -2,
        st.sampled_from(
            [
                [b"FLUSH"],
                [b"flush", b"ASYNC"],
                [b"FLUSH", b"SYNC"],
                [b"FLUSH", b"x"],
                [b"FLUSH", b"a", b"b"],
                [b"LIST"],
                [b"LIST", b"WITHCODE"],
                [b"DUMP"],
                [b"LIST", b"LIBRARYNAME", b"x*"],
                [b"LIST", b"LIBRARYNAME"],
                [b"LIST", b"x"],
                [b"DELETE", b"lib"],
                [b"KILL"],
                [b"LOAD", b"return 1"],
                [b"bogus"],
                [b"STATS", b"x"],
            ]
        ),
    ),
    "script": Entry(
        -2,
        st.sampled_from(
            [
                [b"FLUSH"],
                [b"FLUSH", b"ASYNC"],
                [b"flush", b"x"],
                [b"EXISTS", b"a", b"b"],
                [b"EXISTS"],
                [b"KILL"],
                [b"bogus"],
                [b"KILL", b"x"],
            ]
        ),
    ),
}
