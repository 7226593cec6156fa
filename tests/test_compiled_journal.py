"""The compiled journal against the pure one: two builds, the same log.

The same generated write sequences (SET with its options, MSET, MSETNX, the INCR family,
APPEND, DEL, GETDEL, GETEX, EXPIRE and PERSIST, RENAME, FLUSHDB/FLUSHALL, SELECT, MOVE, SWAPDB
and COPY ... DB across databases, values around the
short-header table's end, deadlines, and reads that find keys past their deadline, which the
journal records as DELs) run through a dispatcher over a fresh keyspace, once with
the pure :class:`LogJournal` and once with its compiled twin (the same source compiled with
Cython, ``kvstore._speedups``), flushed at random points as loop iterations would. The replies,
the keyspace, the bytes appended to the log, the journal's state and INFO's command statistics
must be the same. Skipped only where the compiled build is not built.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled_support import Loop, MemoryLog, compiled_twin
from kvstore import build
from kvstore.commands import Dispatcher, ServerState, Session
from kvstore.keyspace import Databases, Keyspace
from kvstore.persistence import journal as pure
from kvstore.persistence import manager

NOW = 1_700_000_000_000


compiled, pytestmark = compiled_twin(pure)


keys = st.sampled_from([b"a", b"b", b"c", b"x" * 1030])
values = st.one_of(
    st.binary(max_size=8),
    st.sampled_from([b"0", b"-1", b"41", b"9223372036854775807", b"1.5"]),
    st.integers(min_value=1019, max_value=1027).map(lambda size: b"v" * size),
)
deadlines = st.sampled_from([b"1", b"5000", b"%d" % (NOW - 1), b"%d" % (NOW + 9)])
writes = st.one_of(
    st.tuples(st.just(b"SET"), keys, values).map(list),
    st.tuples(
        st.sampled_from([b"SET", b"set"]),
        keys,
        values,
        st.sampled_from([b"NX", b"XX", b"GET", b"KEEPTTL"]),
    ).map(list),
    st.tuples(
        st.just(b"SET"), keys, values, st.sampled_from([b"PX", b"PXAT", b"EX"]), deadlines
    ).map(list),
    st.lists(st.tuples(keys, values), min_size=1, max_size=3).map(
        lambda pairs: [b"MSET", *(part for pair in pairs for part in pair)]
    ),
    st.lists(st.tuples(keys, values), min_size=1, max_size=2).map(
        lambda pairs: [b"MSETNX", *(part for pair in pairs for part in pair)]
    ),
    st.tuples(st.sampled_from([b"INCR", b"DECR"]), keys).map(list),
    st.tuples(st.sampled_from([b"INCRBY", b"DECRBY", b"APPEND"]), keys, values).map(list),
    st.lists(keys, min_size=1, max_size=3).map(lambda k: [b"DEL", *k]),
    st.tuples(st.just(b"GETDEL"), keys).map(list),
    st.tuples(st.just(b"GETEX"), keys, st.just(b"PXAT"), deadlines).map(list),
    st.tuples(st.sampled_from([b"PEXPIREAT", b"EXPIRE"]), keys, deadlines).map(list),
    st.tuples(st.just(b"PERSIST"), keys).map(list),
    st.tuples(st.just(b"RENAME"), keys, keys).map(list),
    st.sampled_from([[b"FLUSHDB"], [b"FLUSHALL"], [b"GET", b"a"], [b"SET", b"a"]]),
    st.tuples(st.sampled_from([b"GET", b"EXISTS"]), keys).map(list),
    # Other databases: the log records SELECT before a record for another one, and SWAPDB.
    st.tuples(st.just(b"SELECT"), st.sampled_from([b"0", b"1", b"2", b"16"])).map(list),
    st.tuples(st.just(b"MOVE"), keys, st.sampled_from([b"0", b"1", b"99"])).map(list),
    st.tuples(st.just(b"SWAPDB"), st.sampled_from([b"0", b"1"]), st.sampled_from([b"1", b"2"])).map(
        list
    ),
    st.tuples(st.just(b"COPY"), keys, keys, st.just(b"DB"), st.sampled_from([b"1", b"2"])).map(
        list
    ),
)
#: A write, or the end of a loop iteration (the flush the journal scheduled runs).
steps = st.lists(st.one_of(writes, st.just(None)), max_size=30)


def _expired(journal: Any, db: Keyspace, event: str, key: bytes) -> None:
    if event == "expired":
        journal.record_expired(key, db)


def run(module: ModuleType, sequence: list[list[bytes] | None]) -> tuple[Any, ...]:
    dbs = Databases.with_first(Keyspace(clock=lambda: NOW))
    appendlog = MemoryLog()
    loop = Loop()
    journal = module.LogJournal(dbs, appendlog, loop)
    for db in dbs:  # as the server's assembly hooks it: an expired key is recorded as a DEL
        db.notify = functools.partial(_expired, journal, db)
    dispatcher = Dispatcher(journal=journal)
    session = Session(ServerState(dbs=dbs, runner=dispatcher, journal=journal))
    replies: list[Any] = []
    for args in [*sequence, None]:
        if args is None:
            scheduled, loop.scheduled = loop.scheduled, []
            for callback in scheduled:
                callback()
            replies.append(("flushed", journal.pending, list(appendlog.written)))
        else:
            replies.append(dispatcher.execute(session, list(args)))
    stats = dispatcher.stats
    return (
        replies,
        [{key: (value, deadline) for key, value, deadline in db.items()} for db in dbs],
        b"".join(appendlog.written),
        journal.pending,
        journal.db.index,
        [(db.dirty, db.logged) for db in dbs],
        list(journal._buffer),
        dict(stats.calls),
        dict(stats.failed),
        dict(stats.rejected),
        dict(stats.error_codes),
        stats.errors,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=steps)
def test_same_log(sequence: list[list[bytes] | None]) -> None:
    assert compiled is not None
    assert run(compiled, sequence) == run(pure, sequence)


def test_the_build_in_use_logs_with_its_twin() -> None:
    assert compiled is not None
    assert compiled.__file__ is not None
    assert compiled.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert compiled.LogJournal is not pure.LogJournal
    assert manager._journal is (compiled if build.COMPILED else pure)
