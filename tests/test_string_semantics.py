"""String commands in-process, where the keyspace can be inspected and the clock set: which
commands keep a key's expiry, the 512 MiB cap, the table's declarations, and the long double
arithmetic behind INCRBYFLOAT."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvstore.commands import COMMANDS, Dispatcher, ServerState, Session, long_double, substrings
from kvstore.keyspace import Databases, Keyspace
from kvstore.protocol import encode_request
from kvstore.protocol.replies import OK, Reply, ReplyError
from kvstore.protocol.resp_replies import INCOMPLETE, ReplyParser
from test_client_support import RedisServer, start_redis_server

NOW = 1_700_000_000_000


class Harness:
    def __init__(self) -> None:
        self.db = Keyspace(clock=lambda: NOW)
        self.session = Session(ServerState(dbs=Databases.with_first(self.db)))
        self.dispatcher = Dispatcher()

    def __call__(self, *words: str | bytes) -> Reply:
        args = [word.encode() if isinstance(word, str) else word for word in words]
        return self.dispatcher.execute(self.session, args)


@pytest.fixture
def run() -> Harness:
    return Harness()


@pytest.mark.parametrize(
    "command",
    [
        ["APPEND", "k", "x"],
        ["SETRANGE", "k", "0", "x"],
        ["INCR", "k"],
        ["DECRBY", "k", "2"],
        ["INCRBYFLOAT", "k", "1.5"],
        ["SET", "k", "2", "KEEPTTL"],
        ["GETEX", "k"],
    ],
)
def test_edits_keep_the_deadline(run: Harness, command: list[str]) -> None:
    assert run("SET", "k", "1", "PX", "5000") == OK
    assert not isinstance(run(*command), ReplyError)
    assert run.db.deadline(b"k") == NOW + 5000


@pytest.mark.parametrize(
    "command",
    [
        ["SET", "k", "2"],
        ["GETSET", "k", "2"],
        ["MSET", "k", "2"],
        ["GETEX", "k", "PERSIST"],
    ],
)
def test_replacing_drops_the_deadline(run: Harness, command: list[str]) -> None:
    assert run("SETEX", "k", "5", "1") == OK
    assert not isinstance(run(*command), ReplyError)
    assert run.db.contains(b"k")
    assert run.db.deadline(b"k") is None


def test_expiry_options_set_absolute_and_relative_deadlines(run: Harness) -> None:
    assert run("PSETEX", "k", "1500", "v") == OK
    assert run.db.deadline(b"k") == NOW + 1500
    assert run("GETEX", "k", "EX", "7") == b"v"
    assert run.db.deadline(b"k") == NOW + 7000
    assert run("GETEX", "k", "PXAT", str(NOW + 9)) == b"v"
    assert run.db.deadline(b"k") == NOW + 9
    assert run("SET", "k", "v", "EXAT", str(NOW // 1000 + 3)) == OK
    assert run.db.deadline(b"k") == (NOW // 1000 + 3) * 1000
    assert run("GETEX", "k", "EXAT", str(NOW // 1000)) == b"v"  # now is past: deleted
    assert not run.db.contains(b"k")


def test_a_refused_command_changes_nothing(run: Harness) -> None:
    assert run("SET", "k", "1", "PX", "5000") == OK
    for command in (
        ["GETEX", "k", "EX", "-1"],
        ["SET", "k", "2", "EX", "0"],
        ["MSET", "k", "2", "j"],
        ["SETRANGE", "k", "-1", "x"],
        ["INCRBYFLOAT", "k", "inf"],
    ):
        assert isinstance(run(*command), ReplyError), command
    assert run("GET", "k") == b"1"
    assert run.db.deadline(b"k") == NOW + 5000
    assert len(run.db) == 1


def test_values_stop_at_the_size_cap(run: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(substrings, "MAX_STRING_LENGTH", 10)
    too_long = ReplyError(substrings.TOO_LONG)
    assert run("APPEND", "k", "12345") == 5
    assert run("APPEND", "k", "67890") == 10
    assert run("APPEND", "k", "x") == too_long
    assert run("SETRANGE", "k", "10", "x") == too_long
    assert run("SETRANGE", "k", "9", "x") == 10
    assert run("GET", "k") == b"123456789x"


# -- the table's declarations, against Redis's -------------------------------------------------

STRING_COMMANDS = [
    "get",
    "set",
    "setnx",
    "setex",
    "psetex",
    "getset",
    "getdel",
    "getex",
    "mget",
    "mset",
    "msetnx",
    "append",
    "strlen",
    "getrange",
    "setrange",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "incrbyfloat",
]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("semantics-redis"))
    yield server
    server.stop()


def redis_command_info(server: RedisServer, name: str) -> list[object]:
    parser = ReplyParser()
    with socket.create_connection((server.host, server.port), timeout=10) as conn:
        conn.sendall(encode_request([b"COMMAND", b"INFO", name.encode()]))
        while (reply := parser.gets()) is INCOMPLETE:
            parser.feed(conn.recv(65536))
    info: list[object] = reply[0]
    return info


@pytest.mark.parametrize("name", STRING_COMMANDS)
def test_arity_flags_and_keys_are_redis_s(redis_server: RedisServer, name: str) -> None:
    info = redis_command_info(redis_server, name)
    ours = COMMANDS[name.encode()]
    theirs_flags = {flag.decode() for flag in info[2]}  # type: ignore[attr-defined]
    assert (ours.arity, ours.flags, ours.first_key, ours.last_key, ours.key_step) == (
        info[1],
        theirs_flags,
        *info[3:6],
    )


# -- long double arithmetic --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"10.5", Fraction(21, 2)),
        (b"0x1p-3", Fraction(1, 8)),
        (b"-0X1.8P+1", Fraction(-3)),
        (b".5", Fraction(1, 2)),
        (b"5.", Fraction(5)),
        (b"0e999999999999", Fraction(0)),
        (b"18446744073709551617", Fraction(2**64)),  # 2**64 + 1 needs 65 bits: ties to even
        (b"18446744073709551619", Fraction(2**64 + 4)),
    ],
)
def test_parse_rounds_to_64_bits(text: bytes, value: Fraction) -> None:
    assert long_double.parse(text) == value


@pytest.mark.parametrize(
    "text",
    [b"", b" 1", b"1 ", b"1e", b"0x", b"nan", b"1e5000", b"1e-5000", b"1\x00", b"1" * 5120],
)
def test_parse_refuses_what_redis_refuses(text: bytes) -> None:
    with pytest.raises(long_double.NotAFloatError):
        long_double.parse(text)


def test_infinities_parse_but_do_not_add() -> None:
    assert long_double.parse(b"-Infinity") == float("-inf")
    with pytest.raises(long_double.InfiniteError):
        long_double.add(long_double.parse(b"inf"), Fraction(1))
    largest = long_double.parse(b"0x1.fffffffffffffffep16383")
    with pytest.raises(long_double.InfiniteError):
        long_double.add(largest, largest)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(53, 5), b"10.6"),
        (Fraction(0), b"0"),
        (Fraction(-1, 10**20), b"0"),  # "-0.00000000000000000" becomes "0"
        (Fraction(1, 2**18), b"0.00000381469726562"),
        (Fraction(3, 2**18), b"0.00001144409179688"),
        (Fraction(10**4000), b"1" + b"0" * 4000),
    ],
)
def test_format_human(value: Fraction, text: bytes) -> None:
    assert long_double.format_human(value) == text


@given(st.integers(-(2**62), 2**62), st.integers(-(2**62), 2**62))
def test_integer_sums_are_exact(left: int, right: int) -> None:
    total = long_double.add(long_double.parse(b"%d" % left), long_double.parse(b"%d" % right))
    assert long_double.format_human(total) == b"%d" % (left + right)


@given(st.fractions(max_denominator=10**30).filter(lambda value: value != 0))
def test_parse_rounds_to_the_nearest_64_bit_value(value: Fraction) -> None:
    text = b"%d/%d" % (value.numerator, value.denominator)
    numerator, denominator = (long_double.parse(part) for part in text.split(b"/"))
    exact = Fraction(numerator) / Fraction(denominator)
    rounded = long_double.add(exact, Fraction(0))
    significand = abs(rounded)
    while significand.denominator != 1:
        significand *= 2
    while significand.numerator % 2 == 0:
        significand /= 2
    assert significand.numerator < 2**64
    # Within half a unit in the last place of a 64-bit significand.
    assert abs(rounded - exact) <= abs(exact) / 2**64
