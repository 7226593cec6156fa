"""Key and expiry commands, scripted, on a real redis-server and on kvstore: the raw replies
must agree (KEYS and SCAN as sets, clock readings within a tolerance), errors included."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import wait_for
from key_scripts import SCRIPTS, Script
from redis_compare import (
    RedisPair,
    scan_all,
)


def run_script(pair: RedisPair, script: Script) -> None:
    differences = [d for args in script if (d := pair.check(*args)) is not None]
    assert not differences, "\n".join(differences)


def _sorted_scan_reply(reply: object) -> object:
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return [reply[0], sorted(reply[1])]
    return reply


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script(pair: RedisPair, name: str) -> None:
    script = SCRIPTS[name]
    differences = []
    for args in script:
        if args[0] == "SCAN":  # one call that covers a small table: the keys as a set
            expected, actual = (_sorted_scan_reply(r) for r in pair.both(*args))
            if expected != actual:
                differences.append(f"{args}: redis {expected!r}, kvstore {actual!r}")
        elif (difference := pair.check(*args)) is not None:
            differences.append(difference)
    assert not differences, "\n".join(differences)


def test_wrong_arity_of_every_command(pair: RedisPair) -> None:
    too_few = {
        "unlink": 1, "type": 1, "rename": 2, "renamenx": 2, "copy": 2, "expire": 2,
        "pexpire": 2, "expireat": 2, "pexpireat": 2, "ttl": 1, "pttl": 1, "expiretime": 1,
        "pexpiretime": 1, "persist": 1, "keys": 1, "scan": 1,
    }  # fmt: skip
    too_many = ["type", "rename", "renamenx", "ttl", "pttl", "expiretime", "pexpiretime"]
    script: Script = [(name, *["k"] * (count - 1)) for name, count in too_few.items()]
    script += [(name, "k", "k", "k") for name in too_many]
    script += [("persist", "k", "k"), ("keys", "*", "*"), ("randomkey", "k"), ("dbsize", "k")]
    run_script(pair, script)


def test_full_scans_agree(pair: RedisPair) -> None:
    for i in range(300):
        pair.both("SET", f"{'user' if i % 3 else 'item'}:{i}", "v")
    pair.both("SET", "", "empty")
    options: list[tuple[str, ...]] = [
        (),
        ("COUNT", "1"),
        ("COUNT", "7"),
        ("MATCH", "user:1*"),
        ("MATCH", "item:[0-4]?", "COUNT", "3"),
        ("MATCH", "*"),
        ("MATCH", "*", "TYPE", "string", "COUNT", "50"),
        ("TYPE", "list"),
    ]
    for option in options:
        expected, actual = scan_all(pair.redis, *option), scan_all(pair.kvstore, *option)
        assert expected == actual, option
    assert len(scan_all(pair.kvstore)) == 301


def test_expired_keys_are_never_returned(pair: RedisPair) -> None:
    deadline = int(time.time() * 1000) + 30
    for conn in (pair.redis, pair.kvstore):
        conn.call("SET", "stays", "1")
        conn.call("SET", "goes", "1", "PXAT", deadline)
        conn.call("SET", "goes too", "1")
        conn.call("PEXPIREAT", "goes too", "1")  # already past: deleted at once
    # Both servers read this machine's clock: once it passes the deadline, "goes" is expired
    # (whether or not a server has reclaimed it yet).
    wait_for(lambda: time.time() * 1000 > deadline + 2, 5, "the deadline to pass")
    script: Script = [
        ("KEYS", "*"),
        ("KEYS", "go*"),
        ("RANDOMKEY",),
        ("TYPE", "goes"),
        ("EXISTS", "goes", "goes too"),
        ("TTL", "goes"),
    ]
    run_script(pair, script)
    assert pair.kvstore.call("KEYS", "*") == [b"stays"]
    assert pair.kvstore.call("RANDOMKEY") == b"stays"
    assert scan_all(pair.kvstore) == scan_all(pair.redis) == {b"stays"}


# -- random EXPIRE-family sequences ---------------------------------------------------------------

_RELATIVE = {"EXPIRE": 1, "PEXPIRE": 1000}  # requests per second of the amount
_ABSOLUTE = {"EXPIREAT": 1, "PEXPIREAT": 1000}
_OVERFLOWS = [2**63 - 1, -(2**63), 2**63 // 1000, 2**63 // 1000 + 1, -(2**63 // 1000) - 1]

expire_steps = st.lists(
    st.tuples(
        st.sampled_from(["SET", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "PTTL"]),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["past", "now", "future", "future", "future", "overflow"]),
        st.integers(0, len(_OVERFLOWS) - 1),
        st.lists(st.sampled_from(["NX", "XX", "GT", "LT", "gt", "FOO"]), max_size=2),
    ),
    max_size=12,
)


def _expire_request(
    step: int, now_s: int, choice: tuple[str, str, str, int, list[str]]
) -> tuple[str | int, ...]:
    name, key, when, which, options = choice
    if name == "SET":
        return (
            ("SET", key, "v", "EX", 10_000 + 1_000 * step)
            if when == "future"
            else ("SET", key, "v")
        )
    if name in ("PERSIST", "PTTL"):
        return (name, key)
    scale = _RELATIVE.get(name) or _ABSOLUTE[name]
    # Distinct future deadlines lie at least 1000 s apart and past ones far behind, so GT/LT
    # never compare two deadlines that the servers' few milliseconds apart could reorder.
    if when == "overflow":
        amount = _OVERFLOWS[which]
    elif name in _RELATIVE:
        amount = {"past": -3_600, "now": 0, "future": 1_000 * (step + 1) + 500 * which}[when]
        amount *= scale
    else:
        amount = {"past": 1, "now": 0, "future": now_s + 1_000 * (step + 1) + 500 * which}[when]
        amount *= scale
    return (name, key, amount, *options)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=expire_steps)
def test_random_expire_sequences_agree(
    pair: RedisPair, steps: list[tuple[str, str, str, int, list[str]]]
) -> None:
    pair.reset()
    now_s = int(time.time())
    script: Script = [("SET", "a", "v"), ("SET", "b", "v", "EX", 500)]
    script += [_expire_request(i, now_s, step) for i, step in enumerate(steps)]
    script += [("PTTL", "a"), ("PTTL", "b"), ("EXPIRETIME", "a"), ("EXISTS", "a", "b")]
    run_script(pair, script)
