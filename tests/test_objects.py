"""OBJECT and TOUCH: encodings and reference counts scripted against a real redis-server, idle
time under an ``-lru`` policy on a hand-moved clock, and the replies that need no peer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from command_support import FakeClock
from conftest import ServerProcess, start_server
from kvstore.commands import Dispatcher, ServerState, Session, objects
from kvstore.eviction import EvictingKeyspace
from kvstore.keyspace import Databases
from kvstore.protocol.replies import ReplyError, Status
from redis_compare import RedisPair, start_kvstore_for_comparison, start_reference_redis
from test_client_support import RedisServer


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPair]:
    reference: RedisServer = start_reference_redis(tmp_path_factory.mktemp("objects-redis"))
    kvstore: ServerProcess = start_kvstore_for_comparison()
    connections = RedisPair(reference.port, kvstore.port)
    yield connections
    connections.close()
    kvstore.stop()
    reference.stop()


#: How values come to be, and what Redis then reports: the int/embstr/raw boundaries, values
#: edited in place (raw whatever they hold), INCRBYFLOAT's text, COPY's unshared integers.
SCRIPT: list[tuple[str | bytes, ...]] = [
    ("SET", "i", "12"),
    ("SET", "big", "10000"),
    ("SET", "neg", "-5"),
    ("SET", "long", "9223372036854775807"),
    ("SET", "over", "9223372036854775808"),
    ("SET", "zero", "01"),
    ("SET", "e44", "x" * 44),
    ("SET", "r45", "x" * 45),
    ("SET", "a", "5"),
    ("APPEND", "a", "1"),
    ("SET", "sr", "1234"),
    ("SETRANGE", "sr", "0", "2"),
    ("SETRANGE", "new", "2", "ab"),
    ("SET", "sb", "1"),
    ("SETBIT", "sb", "6", "1"),
    ("SET", "noop", "12"),
    ("SETBIT", "noop", "2", "1"),
    ("INCRBYFLOAT", "f", "3"),
    ("INCRBYFLOAT", "g", "1.5"),
    ("INCR", "n"),
    ("SET", "c", "77"),
    ("COPY", "c", "c2"),
    ("COPY", "a", "a2"),
    ("RENAME", "a2", "a3"),
    ("MSET", "m", "99"),
    ("BITOP", "OR", "b", "i"),
    ("BITFIELD", "bf", "SET", "u8", "0", "49"),
]
#: Every key the script writes (COPY's and RENAME's targets too), and one it does not.
KEYS = list(dict.fromkeys([str(args[2] if args[0] in ("BITOP",) else args[1]) for args in SCRIPT]))
KEYS += ["c2", "a3", "missing"]


def test_encodings_and_refcounts_are_redis_s(pair: RedisPair) -> None:
    pair.reset()
    differences = [d for args in SCRIPT if (d := pair.check(*args)) is not None]
    for key in KEYS:
        for sub in ("ENCODING", "REFCOUNT", "FREQ"):
            difference = pair.check("OBJECT", sub, key)
            if difference is not None:
                differences.append(difference)
    for args in (("OBJECT", "HELP", "x"), ("OBJECT", "bogus", "k"), ("OBJECT",), ("TOUCH",)):
        difference = pair.check(*args)
        if difference is not None:
            differences.append(difference)
    touched = pair.check("TOUCH", "i", "missing", "a", "i")
    if touched is not None:
        differences.append(touched)
    assert not differences, "\n".join(differences)


def _lru_session(policy: str, clock: FakeClock) -> tuple[Session, Dispatcher]:
    db = EvictingKeyspace(policy, clock=clock)
    settings = {"maxmemory": "100000000", "maxmemory-policy": policy}
    return Session(
        ServerState(dbs=Databases.with_first(db), settings=lambda: settings)
    ), Dispatcher()


def test_idletime_under_an_lru_policy_counts_from_the_last_access() -> None:
    clock = FakeClock()
    session, dispatcher = _lru_session("allkeys-lru", clock)
    db = session.db
    assert isinstance(db, EvictingKeyspace)

    def run(*args: bytes) -> object:
        return dispatcher.execute(session, list(args))

    run(b"SET", b"k", b"v")
    clock.now += 5_000
    db.expire_cycle()  # advances the coarse access clock
    assert run(b"OBJECT", b"IDLETIME", b"k") == 5
    assert run(b"OBJECT", b"IDLETIME", b"k") == 5  # OBJECT is not an access
    assert run(b"TOUCH", b"k") == 1
    assert run(b"OBJECT", b"IDLETIME", b"k") == 0
    clock.now += 3_000
    assert run(b"OBJECT", b"IDLETIME", b"k") == 3
    assert run(b"OBJECT", b"IDLETIME", b"nosuchkey") is None
    payload = run(b"DUMP", b"k")
    assert isinstance(payload, bytes)
    assert run(b"RESTORE", b"old", b"0", payload, b"IDLETIME", b"100") == Status("OK")
    assert run(b"OBJECT", b"IDLETIME", b"old") == 100
    # Shared integers are not used under an LRU policy, as in Redis.
    run(b"SET", b"n", b"5")
    assert run(b"OBJECT", b"REFCOUNT", b"n") == 1


def test_without_an_lru_policy_idletime_is_zero_and_freq_refused() -> None:
    clock = FakeClock()
    session, dispatcher = _lru_session("noeviction", clock)
    dispatcher.execute(session, [b"SET", b"k", b"v"])
    clock.now += 10_000
    assert dispatcher.execute(session, [b"OBJECT", b"IDLETIME", b"k"]) == 0
    freq = dispatcher.execute(session, [b"OBJECT", b"FREQ", b"k"])
    assert isinstance(freq, ReplyError)
    assert "LFU maxmemory policy is not selected" in freq.message


def test_marks_of_values_no_one_holds_are_dropped() -> None:
    held = [objects.edited(b"held%d" % i) for i in range(10)]
    for i in range(5000):
        objects.edited(b"gone%d" % i)  # stored nowhere: dropped at the next look
    assert all(objects.encoding_of(value) == "raw" for value in held)
    assert len(objects._marks) < 2100
    assert objects.encoding_of(b"12") == "int"
    assert objects.encoding_of(b"x" * 44) == "embstr"
    assert objects.encoding_of(b"x" * 45) == "raw"


def test_freq_under_an_lfu_policy_counts_accesses_and_decays() -> None:
    clock = FakeClock()
    session, dispatcher = _lru_session("allkeys-lfu", clock)
    db = session.db
    assert isinstance(db, EvictingKeyspace)

    def run(*args: bytes) -> object:
        return dispatcher.execute(session, list(args))

    run(b"SET", b"k", b"v")
    assert run(b"OBJECT", b"FREQ", b"k") == 5  # a new key's counter, as Redis's
    assert run(b"OBJECT", b"FREQ", b"k") == 5  # OBJECT is not an access
    run(b"GET", b"k")
    assert run(b"OBJECT", b"FREQ", b"k") == 6  # at 5 an access always counts
    for _ in range(1000):
        run(b"GET", b"k")
    counted = run(b"OBJECT", b"FREQ", b"k")
    assert isinstance(counted, int)
    assert 6 < counted < 30  # logarithmic: a thousand reads add a few points
    clock.now += 3 * 60_000
    db.expire_cycle()  # advances the coarse access clock
    assert run(b"OBJECT", b"FREQ", b"k") == counted - 3  # a point a minute
    idle = run(b"OBJECT", b"IDLETIME", b"k")
    assert isinstance(idle, ReplyError)
    assert "LFU maxmemory policy is selected" in idle.message
    payload = run(b"DUMP", b"k")
    assert isinstance(payload, bytes)
    assert run(b"RESTORE", b"r", b"0", payload, b"FREQ", b"100") == Status("OK")
    assert run(b"OBJECT", b"FREQ", b"r") == 100
    db.set_policy("allkeys-lru")
    refused = run(b"OBJECT", b"FREQ", b"r")
    assert isinstance(refused, ReplyError)


#: LFU as Redis's suite checks it (unit/dump "RESTORE can set LFU"), and the counter's
#: deterministic first steps (a new key holds 5; at 5 an access always counts).
LFU_SCRIPT: list[tuple[str | bytes, ...]] = [
    ("SET", "k", "v"),
    ("OBJECT", "FREQ", "k"),
    ("GET", "k"),
    ("OBJECT", "FREQ", "k"),
    ("OBJECT", "IDLETIME", "k"),
    ("RESTORE", "bar", "0", "PAYLOAD", "FREQ", "100"),  # PAYLOAD: DUMP src's
    ("OBJECT", "FREQ", "bar"),
    ("GET", "bar"),
    ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
    ("OBJECT", "FREQ", "k"),
]


def test_lfu_is_redis_s(tmp_path_factory: pytest.TempPathFactory) -> None:
    reference = start_reference_redis(tmp_path_factory.mktemp("lfu-redis"))
    # kvstore counts accesses only in a keyspace that can evict: started with a limit.
    kvstore = start_server("--maxmemory", "1gb")
    pair = RedisPair(reference.port, kvstore.port)
    try:
        pair.reset()
        # The policy first: Redis reads a key's LRU clock as an LFU counter once it switches.
        assert pair.check("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") is None
        assert pair.check("SET", "src", "v") is None
        payload, theirs = pair.both("DUMP", "src")
        assert isinstance(payload, bytes)
        assert payload == theirs
        script = [
            tuple(payload if arg == "PAYLOAD" else arg for arg in args) for args in LFU_SCRIPT
        ]
        differences = [d for args in script if (d := pair.check(*args)) is not None]
        assert not differences, "\n".join(differences)
        assert pair.both("OBJECT", "FREQ", "nosuch") == (None, None)
    finally:
        pair.close()
        kvstore.stop()
        reference.stop()
