"""The compiled dispatcher against the pure one: two builds, the same bookkeeping.

The same generated request sequences (the hot commands and their options, names in any case,
unknown commands, wrong arities, AUTH with right and wrong passwords before and after, MULTI,
EXEC, DISCARD and refusals inside a transaction, WATCH, errors a handler raises, the counters
reset, the slow log on for every command, QUIT; in cluster mode too, with MOVED, ASK and
CROSSSLOT) run through the pure :class:`Dispatcher` and
its compiled twin (the same source compiled with Cython, ``kvstore._speedups``), each over a
fresh keyspace with a journal on a log in memory, each client's requests in a row as one read
whose replies are encoded into one buffer (several, past a flush size), as a connection runs
them. The replies' bytes, the keyspace, the log's bytes, INFO's commandstats and errorstats
(calls, rejected and failed calls, error codes; not the time, which is measured), the slow
log's commands, and each session's state must be the same.
Skipped only where the compiled build is not built.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.machinery
import itertools
from types import ModuleType
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled_support import Loop, MemoryLog, compiled_twin
from kvstore import build, commands
from kvstore.cluster.topology import Member, Shard, Topology
from kvstore.cluster.view import TopologyView
from kvstore.commands import ServerState, Session
from kvstore.commands import dispatch as pure
from kvstore.commands.cluster_guard import ClusterGuard
from kvstore.keyspace import Databases, Keyspace
from kvstore.persistence import journal as pure_journal
from kvstore.slots import key_slot

NOW = 1_700_000_000_000
PASSWORD = b"secret"


compiled, _twin_built = compiled_twin(pure)
pytestmark = [
    _twin_built,
    # Its sessions' fields are C fields it reads as such: the compiled build's sessions only.
    pytest.mark.skipif(not build.COMPILED, reason="the compiled dispatcher runs compiled sessions"),
]


keys = st.sampled_from([b"a", b"b", b"k" * 40])
values = st.one_of(st.binary(max_size=6), st.sampled_from([b"0", b"7", b"-3", b"x" * 1030]))
names = st.sampled_from(
    [
        *(b"GET", b"get", b"Get", b"SET", b"set", b"MGET", b"MSET", b"INCR", b"DECR"),
        *(b"INCRBY", b"DEL", b"EXISTS", b"EXPIRE", b"TTL", b"PTTL", b"PING", b"APPEND"),
        b"STRLEN",
    ]
)
requests = st.one_of(
    # Any of the hot commands with any arguments: right arities, wrong ones, bad values.
    st.tuples(names, st.lists(st.one_of(keys, values), max_size=4)).map(
        lambda request: [request[0], *request[1]]
    ),
    st.tuples(
        st.just(b"SET"),
        keys,
        values,
        st.sampled_from([b"NX", b"XX", b"GET", b"KEEPTTL", b"PX", b"EX", b"BOGUS"]),
        st.sampled_from([b"10", b"0", b"-1", b"x"]),
    ).map(list),
    st.sampled_from(
        [
            [b"MULTI"],
            [b"EXEC"],
            [b"DISCARD"],
            [b"WATCH", b"a"],
            [b"UNWATCH"],
            [b"AUTH", PASSWORD],
            [b"AUTH", b"wrong"],
            [b"NOSUCHCOMMAND", b"a"],
            [b"nosuch"],
            [b"CONFIG", b"RESETSTAT"],
            [b"CONFIG", b"NOSUCH"],
            [b"SLOWLOG", b"LEN"],
            [b"FLUSHALL"],
            [b"SHUTDOWN"],
            [b"HELLO", b"3"],
            [b"QUIT"],
            [b"SELECT", b"1"],
            [b"SELECT", b"0"],
            [b"SELECT", b"99"],
            [b"ASKING"],
            [b"READONLY"],
            [b"READWRITE"],
            [b"MGET", b"a", b"b"],
        ]
    ),
)
#: Each request comes from one of two clients.
sequences = st.lists(st.tuples(st.integers(0, 1), requests), max_size=25)


def cluster_view() -> TopologyView:
    """This node serves slots 0-8191 (key ``b``; ``a`` is the other shard's), the slot of
    ``b`` on its way to the other shard."""
    me, other = Member("1" * 40, "127.0.0.1", 7000), Member("2" * 40, "127.0.0.1", 7001)
    moving = {key_slot(b"b"): "other"}
    return TopologyView(
        Topology(
            (
                Shard("me", ((0, 8191),), (me,), 1, migrating=moving),
                Shard("other", ((8192, 16383),), (other,), 2),
            )
        ),
        me.id,
    )


def run(
    module: ModuleType,
    sequence: list[tuple[int, list[bytes]]],
    requirepass: bytes | None,
    cluster: bool = False,
) -> tuple[Any, ...]:
    dbs = Databases.with_first(Keyspace(clock=lambda: NOW))
    appendlog = MemoryLog()
    loop = Loop()
    journal = cast(Any, pure_journal.LogJournal)(dbs, appendlog, loop)  # fakes: duck-typed
    view = cluster_view() if cluster else None
    state = ServerState(
        dbs=dbs, requirepass=requirepass, settings=dict, journal=journal, cluster=view
    )
    dispatcher = module.Dispatcher(journal=journal, stats=state.stats, slowlog_log_slower_than=0)
    if view is not None:
        table = dispatcher.table
        dispatcher.guard_with(ClusterGuard(view, lambda name: table.get(name.lower())).refusal)
    state.runner = dispatcher
    sessions = [Session(state, addr=f"127.0.0.1:{port}", id=port) for port in (1, 2)]
    replies = []
    # A client's requests in a row arrive in one read: the dispatcher runs them and encodes
    # their replies into one buffer (answer), as a connection has it do; a client that sent
    # QUIT (or SHUTDOWN) has left, and what it sends after is not run.
    for index, batch in itertools.groupby(sequence, key=lambda request: request[0]):
        session = sessions[index]
        requests = [list(args) for _, args in batch]
        done = 0
        while done < len(requests) and not session.close_after_reply:
            out: list[bytes] = []
            done = dispatcher.answer(session, requests, done, out, 2000)
            replies.append(b"".join(out))
    for callback in loop.scheduled:
        callback()
    stats = dispatcher.stats
    return (
        replies,
        [{key: (value, deadline) for key, value, deadline in db.items()} for db in dbs],
        b"".join(appendlog.written),
        {name: calls for name, calls in stats.calls.items() if calls},
        set(stats.run_ns) == set(stats.calls),
        dict(stats.rejected),
        dict(stats.failed),
        dict(stats.error_codes),
        stats.errors,
        [(entry.args, entry.addr, entry.name) for entry in stats.slowlog.entries],
        stats.slowlog.next_id,
        [
            (
                s.authenticated,
                s.queued,
                s.transaction_failed,
                s.last_command,
                s.protocol,
                s.close_after_reply,
                s.reply_suppressed,
                s.db.index,
                s.asking,
                s.readonly,
            )
            for s in sessions
        ],
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=sequences, requirepass=st.sampled_from([None, PASSWORD]), cluster=st.booleans())
def test_same_replies_keyspace_log_and_stats(
    sequence: list[tuple[int, list[bytes]]], requirepass: bytes | None, cluster: bool
) -> None:
    assert compiled is not None
    expected = run(pure, sequence, requirepass, cluster)
    assert run(compiled, sequence, requirepass, cluster) == expected


def test_a_handler_bug_costs_one_error_reply_in_both() -> None:
    """An exception other than ReplyError in a handler: the same reply and counters."""
    assert compiled is not None

    def broken(session: Session, args: list[bytes]) -> None:
        raise RuntimeError("a bug")

    results = []
    for module in (pure, compiled):
        table = dict(commands.COMMANDS)
        table[b"get"] = dataclasses.replace(commands.COMMANDS[b"get"], handler=broken)
        dispatcher = module.Dispatcher(table)
        session = Session(ServerState(runner=dispatcher))
        reply = dispatcher.execute(session, [b"GET", b"a"])
        stats = dispatcher.stats
        results.append((reply, dict(stats.failed), dict(stats.error_codes), stats.errors))
    assert results[0] == results[1]


def test_the_build_in_use_dispatches_with_its_twin() -> None:
    assert compiled is not None
    assert compiled.__file__ is not None
    assert compiled.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert compiled.Dispatcher is not pure.Dispatcher
    assert commands.Dispatcher is (compiled.Dispatcher if build.COMPILED else pure.Dispatcher)
