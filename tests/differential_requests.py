"""Requests for the differential test: every command's table entry (strings from
``differential_table.py``, the rest from ``differential_keys.py``), spelt in mixed case, one in
ten of the wrong arity."""

from __future__ import annotations

from hypothesis import strategies as st

from differential_bits import BIT_TABLE
from differential_keys import KEY_TABLE
from differential_table import TABLE as STRING_TABLE
from differential_table import Args, Entry, key, value

TABLE: dict[str, Entry] = {**STRING_TABLE, **KEY_TABLE, **BIT_TABLE}


def wrong_arity(arity: int) -> st.SearchStrategy[Args] | None:
    """Argument lists (the name excluded) of a length ``arity`` refuses; None if every length
    is accepted."""
    if arity >= 0:
        lengths = st.integers(0, arity).filter(lambda n: n != arity - 1)
    elif arity < -1:
        lengths = st.integers(0, -arity - 2)
    else:
        return None
    return lengths.flatmap(lambda n: st.lists(st.one_of(key, value), min_size=n, max_size=n))


def _spellings(name: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from([name.encode(), name.upper().encode(), name.title().encode()])


def request(name: str) -> st.SearchStrategy[Args]:
    """A whole request for ``name``: mostly well-formed, one in ten of the wrong arity."""
    entry = TABLE[name]
    bad = wrong_arity(entry.arity)
    args = entry.args
    if bad is not None:
        args = st.integers(0, 9).flatmap(lambda roll: bad if roll == 0 else entry.args)
    return st.tuples(_spellings(name), args).map(lambda t: [t[0], *t[1]])


#: One generated request anywhere in the table, with its command's name.
requests = st.sampled_from(sorted(TABLE)).flatmap(
    lambda name: request(name).map(lambda args: (name, args))
)
