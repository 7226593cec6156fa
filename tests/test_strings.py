"""String commands by example, over RESP and over the text protocol, on both server variants.

Every expected reply below is what Redis 7 answers (the differential test checks the same
commands against a real redis-server at random; these pin the cases worth naming).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from conftest import ServerProcess, read_exactly
from kvstore.protocol import encode_request
from test_client_support import RedisServer, start_redis_server

NIL = b"$-1\r\n"
OK = b"+OK\r\n"
WRONG_TYPE_OF_NUMBER = b"-ERR value is not an integer or out of range\r\n"
NOT_A_FLOAT = b"-ERR value is not a valid float\r\n"
SYNTAX = b"-ERR syntax error\r\n"


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def arity(name: str) -> bytes:
    return b"-ERR wrong number of arguments for '%b' command\r\n" % name.encode()


#: Sessions of (request, expected RESP reply); ``K``, ``L`` and ``M`` become fresh keys, ``''``
#: an empty argument and ``_1`` the argument " 1".
CASES: dict[str, list[tuple[str, bytes]]] = {
    "setex-psetex": [
        ("SETEX K 100 v", OK),
        ("GET K", bulk(b"v")),
        ("PSETEX K 100000 w", OK),
        ("GET K", bulk(b"w")),
        ("SETEX K 0 v", b"-ERR invalid expire time in 'setex' command\r\n"),
        ("PSETEX K -5 v", b"-ERR invalid expire time in 'psetex' command\r\n"),
        ("SETEX K 9223372036854775 v", b"-ERR invalid expire time in 'setex' command\r\n"),
        ("SETEX K soon v", WRONG_TYPE_OF_NUMBER),
        ("SETEX K 100", arity("setex")),
    ],
    "set-options-as-redis-reads-them": [
        ("SET K 1 NX NX", OK),
        ("SET K 2 GET GET", bulk(b"1")),
        ("SET K 3 EX 100 EX 200", OK),
        ("SET K 4 EX 100 PX 100", SYNTAX),
        ("SET K 4 KEEPTTL EX 100", SYNTAX),
        ("SET K 4 EX soon bogus", SYNTAX),  # every option is read before the number
        ("SET K 4 EX soon", WRONG_TYPE_OF_NUMBER),
        ("SET K 4 PX 9223372036854775807", b"-ERR invalid expire time in 'set' command\r\n"),
        ("SET K 4 PERSIST", SYNTAX),
        ("SET K 5 EXAT 1", OK),  # a deadline in the past: the key is gone at once
        ("GET K", NIL),
    ],
    "getset-getdel": [
        ("GETSET K a", NIL),
        ("GETSET K b", bulk(b"a")),
        ("GETDEL K", bulk(b"b")),
        ("GETDEL K", NIL),
        ("EXISTS K", b":0\r\n"),
    ],
    "getex": [
        ("GETEX K", NIL),
        ("GETEX K EX soon", NIL),  # a missing key is nil before the time is read
        ("GETEX K bogus", SYNTAX),
        ("SET K v", OK),
        ("GETEX K EX 100", bulk(b"v")),
        ("GETEX K PERSIST", bulk(b"v")),
        ("GETEX K EX 0", b"-ERR invalid expire time in 'getex' command\r\n"),
        ("GETEX K PERSIST EX 10", SYNTAX),
        ("GETEX K KEEPTTL", SYNTAX),
        ("GETEX K PXAT 1", bulk(b"v")),  # past: deleted after the reply
        ("EXISTS K", b":0\r\n"),
    ],
    "mget-mset-msetnx": [
        ("MSET K 1 L 2", OK),
        ("MGET K L M", b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"),
        ("MSET K 1 L", arity("mset")),
        ("MSETNX M 3 K 9", b":0\r\n"),
        ("GET M", NIL),
        ("MSETNX M 3 M 4", b":1\r\n"),
        ("GET M", bulk(b"4")),
        ("MSETNX M", arity("msetnx")),
    ],
    "append-strlen": [
        ("APPEND K ab", b":2\r\n"),
        ("APPEND K cd", b":4\r\n"),
        ("GET K", bulk(b"abcd")),
        ("STRLEN K", b":4\r\n"),
        ("STRLEN M", b":0\r\n"),
    ],
    "getrange": [
        ("SET K Hello", OK),
        ("GETRANGE K 0 3", bulk(b"Hell")),
        ("GETRANGE K -3 -1", bulk(b"llo")),
        ("GETRANGE K 0 -1", bulk(b"Hello")),
        ("GETRANGE K 10 100", bulk(b"")),
        ("GETRANGE K -1 -5", bulk(b"")),
        ("GETRANGE K -100 1", bulk(b"He")),
        ("GETRANGE M 0 1", bulk(b"")),
        ("GETRANGE K a 1", WRONG_TYPE_OF_NUMBER),
    ],
    "setrange": [
        ("SETRANGE K 3 ab", b":5\r\n"),
        ("GET K", bulk(b"\x00\x00\x00ab")),
        ("SETRANGE K 0 xyz", b":5\r\n"),
        ("GET K", bulk(b"xyzab")),
        ("SETRANGE K -1 x", b"-ERR offset is out of range\r\n"),
        (
            "SETRANGE K 536870911 xy",
            b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
        ),
        ("SETRANGE M 536870912 ''", b":0\r\n"),  # writing nothing checks nothing
        ("EXISTS M", b":0\r\n"),
    ],
    "incr-decr": [
        ("INCR K", b":1\r\n"),
        ("INCRBY K 10", b":11\r\n"),
        ("DECR K", b":10\r\n"),
        ("DECRBY K 20", b":-10\r\n"),
        ("INCRBY K -0", WRONG_TYPE_OF_NUMBER),
        ("INCRBY K 01", WRONG_TYPE_OF_NUMBER),
        ("SET K 9223372036854775807", OK),
        ("INCR K", b"-ERR increment or decrement would overflow\r\n"),
        ("DECRBY K -9223372036854775808", b"-ERR decrement would overflow\r\n"),
        ("SET K 1.5", OK),
        ("INCR K", WRONG_TYPE_OF_NUMBER),
        ("SET K _1", OK),
        ("INCR K", WRONG_TYPE_OF_NUMBER),
    ],
    "incrbyfloat": [
        ("INCRBYFLOAT K 10.5", bulk(b"10.5")),
        ("INCRBYFLOAT K 0.1", bulk(b"10.6")),  # a double would print 10.59999999999999964
        ("INCRBYFLOAT K -5", bulk(b"5.6")),
        ("INCRBYFLOAT K 5.0e3", bulk(b"5005.60000000000000009")),  # as Redis: x87 digits
        ("INCRBYFLOAT K abc", NOT_A_FLOAT),
        ("INCRBYFLOAT K inf", b"-ERR increment would produce NaN or Infinity\r\n"),
        ("INCRBYFLOAT K 1e5000", NOT_A_FLOAT),
        ("INCRBYFLOAT L 0.000003814697265625", bulk(b"0.00000381469726562")),  # ties to even
        ("INCRBYFLOAT M 0x1p-2", bulk(b"0.25")),
        ("INCRBYFLOAT M -0.25", bulk(b"0")),
        ("SET M 1e4932", OK),
        ("INCRBYFLOAT M 1e4932", b"-ERR increment would produce NaN or Infinity\r\n"),
        ("SET M _1", OK),
        ("INCRBYFLOAT M 1", NOT_A_FLOAT),
    ],
}


def words(request: str, keys: dict[str, bytes]) -> list[bytes]:
    parts = []
    for word in request.split():
        if word == "''":
            parts.append(b"")
        elif word.startswith("_"):  # a leading blank
            parts.append(b" " + word[1:].encode())
        else:
            parts.append(keys.get(word, word.encode()))
    return parts


@pytest.fixture
def keys() -> dict[str, bytes]:
    prefix = "strings-" + uuid.uuid4().hex
    return {name: f"{prefix}-{name}".encode() for name in "KLM"}


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[socket.socket]:
    with server.connect() as sock:
        yield sock


def run_case(conn: socket.socket, keys: dict[str, bytes], case: str) -> None:
    for request, expected in CASES[case]:
        conn.sendall(encode_request(words(request, keys)))
        assert read_exactly(conn, len(expected)) == expected, request


@pytest.mark.parametrize("case", sorted(CASES))
def test_over_resp(conn: socket.socket, keys: dict[str, bytes], case: str) -> None:
    run_case(conn, keys, case)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("strings-redis"))
    yield server
    server.stop()


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_expected_replies_are_redis_s(
    redis_server: RedisServer, keys: dict[str, bytes], case: str
) -> None:
    with socket.create_connection((redis_server.host, redis_server.port), timeout=10) as conn:
        run_case(conn, keys, case)


#: (request, reply) as typed on a text connection; K and L become fresh keys.
TEXT_SESSION = [
    ("incr K", b"1"),
    ("incrby K 41", b"42"),
    ("decr K", b"41"),
    ("incrbyfloat K 0.5", b"41.5"),
    ("incr K", b"error: value is not an integer or out of range"),
    ("append L abc", b"3"),
    ("strlen L", b"3"),
    ("getrange L 1 -1", b"bc"),
    ("mget K L nosuchkey", b"41.5\r\nabc\r\n(nil)"),
    ("mset K 1 L 2", b"OK"),
    ("getset K 5", b"1"),
    ("getdel L", b"2"),
    ("getex L", b"(nil)"),
    ("setex L 100 v", b"OK"),
    ("msetnx K 1 L 2", b"0"),
    ("setrange L 1 xyz", b"4"),
    ("get L", b"vxyz"),
    ("mset K", b"error: wrong number of arguments for 'mset' command"),
    # The assignment's verbs keep their own replies.
    ("put K 9", b"Key already exists"),
    ("del K", b"OK"),
    ("get K", b"Key not found"),
    ("set K 7", b"OK"),
    ("get K", b"7"),
]


def test_over_the_text_protocol(conn: socket.socket, keys: dict[str, bytes]) -> None:
    for request, expected in TEXT_SESSION:
        line = b" ".join(words(request, keys)) + b"\r\n"
        conn.sendall(line)
        reply = expected + b"\r\n"
        assert read_exactly(conn, len(reply)) == reply, request


def test_a_list_over_bare_lf_is_lines_without_a_final_terminator(
    conn: socket.socket, keys: dict[str, bytes]
) -> None:
    k, m = keys["K"], keys["M"]
    conn.sendall(b"mset " + k + b" 1 " + m + b" 2\n")
    assert read_exactly(conn, 2) == b"OK"
    conn.sendall(b"mget " + k + b" " + m + b"\nincr " + k + b"\r\n")
    assert read_exactly(conn, 3 + 3) == b"1\n2" + b"2\r\n"
