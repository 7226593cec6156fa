"""EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME and PERSIST, run
in-process on a hand-moved clock."""

from __future__ import annotations

import pytest

from command_support import START_MS, Harness
from kvstore.commands import COMMANDS
from kvstore.protocol.replies import OK, ReplyError


@pytest.fixture
def run() -> Harness:
    harness = Harness()
    assert harness("SET", "k", "v") == OK
    return harness


def test_expire_sets_a_relative_deadline_and_the_key_goes_at_it(run: Harness) -> None:
    assert run("EXPIRE", "k", 10) == 1
    assert run.db.deadline(b"k") == START_MS + 10_000
    assert run("TTL", "k") == 10
    assert run("PTTL", "k") == 10_000
    run.advance(9_999)
    assert run("PTTL", "k") == 1
    assert run("GET", "k") == b"v"
    run.advance(1)
    assert run("GET", "k") is None
    assert run("TTL", "k") == -2
    assert run("EXPIRE", "k", 10) == 0


def test_ttl_rounds_to_the_nearest_second(run: Harness) -> None:
    run("PEXPIRE", "k", 1_499)
    assert run("TTL", "k") == 1
    run("PEXPIRE", "k", 1_500)
    assert run("TTL", "k") == 2
    run("PEXPIRE", "k", 499)
    assert run("TTL", "k") == 0


def test_absolute_forms(run: Harness) -> None:
    assert run("EXPIREAT", "k", START_MS // 1000 + 100) == 1
    assert run("EXPIRETIME", "k") == START_MS // 1000 + 100
    assert run("PEXPIRETIME", "k") == START_MS + 100_000
    assert run("PEXPIREAT", "k", START_MS + 1_234) == 1
    assert run("PEXPIRETIME", "k") == START_MS + 1_234
    assert run("EXPIRETIME", "k") == (START_MS + 1_234 + 500) // 1000
    assert run("PTTL", "k") == 1_234


def test_readings_without_a_deadline_or_a_key(run: Harness) -> None:
    for name in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        assert run(name, "k") == -1
        assert run(name, "missing") == -2


@pytest.mark.parametrize(
    "args",
    [
        ("EXPIRE", "k", 0),
        ("EXPIRE", "k", -1),
        ("PEXPIRE", "k", 0),
        ("EXPIREAT", "k", START_MS // 1000),
        ("PEXPIREAT", "k", START_MS),
        ("PEXPIREAT", "k", -(2**63)),
    ],
)
def test_a_deadline_already_past_deletes_the_key(run: Harness, args: tuple[str, ...]) -> None:
    assert run(*args) == 1
    assert run("EXISTS", "k") == 0
    assert len(run.db) == 0


def test_deadline_in_one_millisecond_keeps_the_key(run: Harness) -> None:
    assert run("PEXPIREAT", "k", START_MS + 1) == 1
    assert run("EXISTS", "k") == 1
    run.advance(1)
    assert run("EXISTS", "k") == 0


def test_nx_and_xx(run: Harness) -> None:
    assert run("EXPIRE", "k", 100, "XX") == 0
    assert run("TTL", "k") == -1
    assert run("EXPIRE", "k", 100, "NX") == 1
    assert run("EXPIRE", "k", 200, "NX") == 0
    assert run("TTL", "k") == 100
    assert run("EXPIRE", "k", 200, "xx") == 1
    assert run("TTL", "k") == 200


def test_gt_and_lt(run: Harness) -> None:
    # No deadline counts as infinite: GT never beats it, LT always does.
    assert run("EXPIRE", "k", 100, "GT") == 0
    assert run("EXPIRE", "k", 100, "LT") == 1
    assert run("EXPIRE", "k", 100, "GT") == 0  # equal is not greater
    assert run("EXPIRE", "k", 100, "LT") == 0  # nor less
    assert run("EXPIRE", "k", 101, "GT") == 1
    assert run("EXPIRE", "k", 50, "GT") == 0
    assert run("EXPIRE", "k", 50, "LT", "XX") == 1
    assert run("TTL", "k") == 50
    assert run("EXPIRE", "k", -1, "LT") == 1  # earlier and past: deleted
    assert run("EXISTS", "k") == 0


def test_gt_with_a_past_time_does_not_delete(run: Harness) -> None:
    run("EXPIRE", "k", 100)
    assert run("EXPIRE", "k", -5, "GT") == 0
    assert run("EXISTS", "k") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("NX", "XX"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (("NX", "GT"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (("lt", "nx"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (("GT", "LT"), "ERR GT and LT options at the same time are not compatible"),
        (("XX", "GT", "LT"), "ERR GT and LT options at the same time are not compatible"),
        (("FOO",), "ERR Unsupported option FOO"),
        (("NX", "bar"), "ERR Unsupported option bar"),
    ],
)
def test_option_errors(run: Harness, options: tuple[str, ...], message: str) -> None:
    run("EXPIRE", "k", 100)
    assert run("EXPIRE", "k", 5, *options) == ReplyError(message)
    assert run("EXPIRE", "k", "not a number", *options) == ReplyError(message)  # checked first
    assert run("TTL", "k") == 100


def test_repeated_compatible_options_are_accepted(run: Harness) -> None:
    assert run("EXPIRE", "k", 100, "NX", "nx") == 1
    assert run("EXPIRE", "k", 200, "XX", "GT", "gt") == 1
    assert run("TTL", "k") == 200


@pytest.mark.parametrize("amount", ["x", "", "1.5", "+1", "01", "-0", " 1", "9223372036854775808"])
def test_times_must_be_canonical_64_bit_integers(run: Harness, amount: str) -> None:
    for name in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"):
        assert run(name, "k", amount) == ReplyError("ERR value is not an integer or out of range")
    assert run("TTL", "k") == -1


@pytest.mark.parametrize(
    ("name", "amount"),
    [
        ("expire", 2**63 // 1000 + 1),  # seconds to milliseconds overflows
        ("expire", -(2**63 // 1000) - 1),
        ("expireat", 2**63 // 1000 + 1),
        ("expireat", -(2**63 // 1000) - 1),
        ("expire", 2**63 // 1000),  # fits in ms, but not once now is added
        ("pexpire", 2**63 - 1),
        ("pexpire", 2**63 - START_MS),
    ],
)
def test_overflowing_times_are_invalid(run: Harness, name: str, amount: int) -> None:
    assert run(name, "k", amount) == ReplyError(f"ERR invalid expire time in '{name}' command")
    assert run(name, "missing", amount) == ReplyError(
        f"ERR invalid expire time in '{name}' command"
    )
    assert run("TTL", "k") == -1


def test_largest_valid_times(run: Harness) -> None:
    assert run("EXPIREAT", "k", 2**63 // 1000) == 1
    assert run("EXPIRETIME", "k") == 2**63 // 1000
    assert run("PEXPIREAT", "k", 2**63 - 1) == 1
    assert run("PEXPIRETIME", "k") == 2**63 - 1
    assert run("PEXPIRE", "k", 2**63 - 1 - START_MS) == 1
    assert run("PEXPIRETIME", "k") == 2**63 - 1


def test_persist(run: Harness) -> None:
    assert run("PERSIST", "k") == 0
    assert run("PERSIST", "missing") == 0
    run("EXPIRE", "k", 10)
    assert run("PERSIST", "k") == 1
    assert run("TTL", "k") == -1
    run.advance(20_000)
    assert run("GET", "k") == b"v"


def test_a_write_without_a_deadline_clears_it(run: Harness) -> None:
    run("EXPIRE", "k", 10)
    run("SET", "k", "w")
    assert run("TTL", "k") == -1


def test_command_table_entries() -> None:
    for name in ("expire", "pexpire", "expireat", "pexpireat"):
        entry = COMMANDS[name.encode()]
        assert (entry.arity, entry.flags) == (-3, frozenset({"write", "fast"}))
        assert (entry.first_key, entry.last_key, entry.key_step) == (1, 1, 1)
    for name in ("ttl", "pttl", "expiretime", "pexpiretime"):
        entry = COMMANDS[name.encode()]
        assert (entry.arity, entry.flags) == (2, frozenset({"readonly", "fast"}))
        assert (entry.first_key, entry.last_key, entry.key_step) == (1, 1, 1)
    entry = COMMANDS[b"persist"]
    assert (entry.arity, entry.flags, entry.first_key) == (2, frozenset({"write", "fast"}), 1)
