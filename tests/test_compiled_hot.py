"""The compiled keyspace and hot handlers against the pure ones: two builds, one behaviour.

The same generated command sequences (GET; SET with every option, in any combination, bad
ones too; MGET, MSET, the INCR/DECR family, DEL, EXISTS, the EXPIRE and TTL families with their
conditions, PING, and GETEX, SETEX and PERSIST, which share SET's option rules; SELECT; the
injected clock moved on, expiry cycles run) go through a dispatcher over sixteen databases of
each build's :class:`Keyspace` (``kvstore.keyspace_core``), with each build's hot handlers
(``kvstore.commands.hot``) and journal on a log in memory. The replies, every database's keys
with their values and deadlines, ``used_memory`` and the keyspace counters, the log's bytes
and INFO's commandstats and errorstats counters must be the same. And call by call, the two
keyspace classes' own interface (writes with deadlines, reads, RENAME, WATCH, SWAPDB's swap,
RANDOMKEY's draw, both expiry cycles, expiry paused by CLIENT PAUSE, keyspace notifications)
must return the same and leave the same state. Skipped only where the compiled build is not
built.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled_support import Loop, MemoryLog, compiled_twin
from kvstore import build, keyspace, keyspace_core
from kvstore.commands import COMMANDS, Command, Dispatcher, ServerState, Session, handlers
from kvstore.commands import hot as pure_hot
from kvstore.keyspace import Databases
from kvstore.persistence import journal as pure_journal

NOW = 1_700_000_000_000

compiled_hot, pytestmark = compiled_twin(pure_hot)
compiled_core, _ = compiled_twin(keyspace_core)
compiled_journal, _ = compiled_twin(pure_journal)

keys = st.sampled_from([b"a", b"b", b"c", b"k" * 40])
values = st.one_of(
    st.binary(max_size=6),
    st.sampled_from([b"0", b"7", b"-3", b"9223372036854775807", b"-9223372036854775808"]),
    st.sampled_from([b"01", b"1.5", b" 1", b"x" * 1030]),
)
amounts = st.sampled_from(
    [b"1", b"10", b"0", b"-1", b"x", b"9223372036854775807", b"9223372036854776", b"%d" % NOW]
)
set_options = st.lists(
    st.one_of(
        st.sampled_from([b"NX", b"xx", b"GET", b"KEEPTTL", b"nx\0y", b"BOGUS", b"PERSIST"]),
        st.tuples(st.sampled_from([b"EX", b"px", b"EXAT", b"PXAT"]), amounts),
    ),
    max_size=3,
).map(
    lambda words: [part for word in words for part in (word if isinstance(word, tuple) else [word])]
)
conditions = st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"lt", b"ZZ\0"]), max_size=2)
commands = st.one_of(
    st.tuples(st.sampled_from([b"GET", b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"]), keys),
    st.tuples(st.just(b"SET"), keys, values, set_options),
    st.tuples(st.just(b"GETEX"), keys, set_options),
    st.tuples(st.sampled_from([b"SETEX", b"PSETEX"]), keys, amounts, values),
    st.tuples(
        st.sampled_from([b"MGET", b"DEL", b"EXISTS"]), st.lists(keys, min_size=1, max_size=3)
    ),
    st.tuples(st.just(b"MSET"), st.lists(st.one_of(keys, values), min_size=2, max_size=5)),
    st.tuples(st.sampled_from([b"INCR", b"DECR", b"PERSIST"]), keys),
    st.tuples(st.sampled_from([b"INCRBY", b"DECRBY"]), keys, st.one_of(values, amounts)),
    st.tuples(
        st.sampled_from([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"]),
        keys,
        amounts,
        conditions,
    ),
    st.tuples(st.just(b"PING"), st.lists(values, max_size=2)),
    st.tuples(st.just(b"SELECT"), st.sampled_from([b"0", b"1"])),
)
#: A command (flattened to its arguments), the clock moved on, or an expiry cycle.
steps = st.lists(
    st.one_of(
        commands.map(
            lambda parts: [
                p for part in parts for p in (part if isinstance(part, list) else [part])
            ]
        ),
        st.tuples(st.just("tick"), st.sampled_from([1, 999, 1000, 10_000])),
        st.just(("cycle",)),
    ),
    max_size=40,
)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


#: The handlers hot.py holds (each registered by its command's family's module).
HANDLERS = [
    *("get", "set_", "mget", "mset", "incr", "decr", "incrby", "decrby", "delete", "exists"),
    *("expire", "pexpire", "expireat", "pexpireat", "ttl", "pttl", "expiretime", "pexpiretime"),
    "ping",
]


def table_of(hot: ModuleType) -> dict[bytes, Command]:
    """The command table with ``hot``'s handlers in place of the build in use's."""
    names = {id(getattr(handlers.hot, name)): name for name in HANDLERS}
    return {
        name: dataclasses.replace(command, handler=getattr(hot, names[id(command.handler)]))
        if id(command.handler) in names
        else command
        for name, command in COMMANDS.items()
    }


def run(hot: ModuleType, core: ModuleType, journal: ModuleType, sequence: list[Any]) -> Any:
    clock = Clock()
    dbs = Databases(16, lambda: core.Keyspace(clock))
    appendlog, loop = MemoryLog(), Loop()
    log = journal.LogJournal(dbs, appendlog, loop)
    dispatcher = Dispatcher(table_of(hot), journal=log)
    session = Session(ServerState(dbs=dbs, runner=dispatcher, journal=log))
    replies: list[Any] = []
    for step in sequence:
        if step[0] == "tick":
            clock.now += step[1]
        elif step[0] == "cycle":
            replies.append([db.expire_cycle() for db in dbs])
        else:
            reply = dispatcher.execute(session, list(step))
            replies.append(
                (type(reply).__name__, str(reply) if isinstance(reply, Exception) else reply)
            )
        for callback in loop.scheduled:
            callback()
        loop.scheduled.clear()
    stats = dispatcher.stats
    return (
        replies,
        [
            (
                sorted((k, v, d) for k, v, d in db.items()),
                db.used_memory,
                db.volatile_count,
                (db.hits, db.misses, db.expired_keys, db.dirty, db.logged),
            )
            for db in dbs
        ],
        b"".join(appendlog.written),
        (dict(stats.calls), dict(stats.failed), dict(stats.rejected), dict(stats.error_codes)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=steps)
def test_the_same_replies_keyspace_log_and_counters(sequence: list[Any]) -> None:
    assert compiled_hot is not None
    assert compiled_core is not None
    assert compiled_journal is not None
    pure = run(pure_hot, keyspace_core, pure_journal, sequence)
    assert run(compiled_hot, compiled_core, compiled_journal, sequence) == pure


def test_the_build_in_use_runs_its_twins_from_the_one_command_table() -> None:
    assert compiled_hot is not None
    assert compiled_core is not None
    for module in (compiled_hot, compiled_core):
        assert module.__file__ is not None
        assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    in_use = compiled_hot if build.COMPILED else pure_hot
    assert handlers.hot is in_use
    assert keyspace.Keyspace is (
        compiled_core.Keyspace if build.COMPILED else keyspace_core.Keyspace
    )
    # Registered once, in the one table, from the build in use: the twin registers nothing.
    assert COMMANDS[b"get"].handler is in_use.get
    assert COMMANDS[b"unlink"].handler is in_use.delete
    assert not hasattr(compiled_hot, "COMMANDS")
    assert not hasattr(compiled_hot, "command")


def test_a_python_subclass_still_overrides_the_compiled_keyspace() -> None:
    """EvictingKeyspace's way: methods the compiled code calls are found on the subclass."""
    assert compiled_core is not None
    removed: list[bytes] = []

    class Counting(compiled_core.Keyspace):  # type: ignore[misc, name-defined]
        def _remove(self, key: bytes) -> None:
            removed.append(key)
            super()._remove(key)

    clock = Clock()
    db = Counting(clock)
    db.set(b"k", b"v", NOW + 5)
    clock.now += 10
    assert db.get(b"k") is None  # expired on access, through the subclass's _remove
    db.set(b"j", b"v")
    assert db.delete(b"j")
    assert removed == [b"k", b"j"]
    assert db.used_memory == 0


# -- the keyspace's own interface, call by call ---------------------------------------------------

deadlines = st.sampled_from([None, NOW - 1, NOW, NOW + 1, NOW + 500, NOW + 10_000])
operations = st.one_of(
    st.tuples(st.just("set"), keys, values, deadlines),
    st.tuples(
        st.sampled_from(
            ["get", "contains", "deadline", "entry", "delete", "persist", "peek", "watch"]
        ),
        keys,
    ),
    st.tuples(st.sampled_from(["set_keep_deadline", "swap_equal"]), keys, values),
    st.tuples(st.just("expire_at"), keys, deadlines.filter(lambda d: d is not None)),
    st.tuples(st.just("rename"), keys, keys),
    st.tuples(st.just("tick"), st.sampled_from([1, 499, 10_000])),
    st.tuples(st.just("pause"), st.booleans()),
    st.tuples(st.just("expire_cycle"), st.integers(min_value=0, max_value=5)),
    st.sampled_from(
        [
            ("active_expire_cycle",),
            ("random_key",),
            ("keys",),
            ("key_snapshot",),
            ("clear",),
            ("swap",),
            ("unwatch",),
            ("watched",),
        ]
    ),
)


def apply(core: ModuleType, sequence: list[Any]) -> list[Any]:
    """Run ``sequence`` on two keyspaces of ``core``; what each call returned, and the state
    after it."""
    clock = Clock()
    first, second = core.Keyspace(clock), core.Keyspace(clock)
    events: list[tuple[str, bytes]] = []
    first.notify = lambda event, key: events.append((event, key))
    watch = core.Watch()
    seen: list[Any] = []
    for operation, *arguments in sequence:
        if operation == "tick":
            clock.now += arguments[0]
            result: Any = None
        elif operation == "pause":  # CLIENT PAUSE: expired keys read as missing, and stay
            first.expiry_paused = result = arguments[0]
        elif operation == "swap":
            result = first.swap_contents(second)
        elif operation == "watch":
            result = first.watch(arguments[0], watch)
        elif operation == "unwatch":
            result = first.unwatch(watch)
        elif operation == "watched":
            result = first.watched_key_changed(watch)
        elif operation == "random_key":
            result = first.random_key(lambda count: count // 2)
        elif operation == "active_expire_cycle":
            result = first.active_expire_cycle(1.0, lambda: 0.0)
        elif operation == "keys":
            result = list(first.keys())
        else:
            result = getattr(first, operation)(*arguments)
        seen.append(
            (
                result,
                [sorted(db.items()) for db in (first, second)],
                [
                    (db.used_memory, db.hits, db.misses, db.expired_keys, db.dirty, len(db))
                    for db in (first, second)
                ],
                (first.volatile_count, first.watched_count, watch.dirty, sorted(watch.keys)),
                list(events),
            )
        )
    return seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(operations, max_size=40))
def test_the_keyspaces_answer_alike_call_by_call(sequence: list[Any]) -> None:
    assert compiled_core is not None
    assert apply(compiled_core, sequence) == apply(keyspace_core, sequence)
