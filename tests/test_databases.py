"""The numbered databases: SELECT, MOVE, SWAPDB, FLUSHDB/FLUSHALL, COPY ... DB, WATCH across
databases, INFO keyspace, persistence of each database, eviction from every database, and the
clients' database option (redis:// URLs, -n)."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from command_support import Harness
from conftest import CLIENT, ROOT, VARIANTS, ServerProcess, read_exactly, run_server_to_exit
from kvstore.client import Client, parse_url
from kvstore.commands import Dispatcher, ServerState, Session
from kvstore.keyspace import Databases
from kvstore.persistence import records
from kvstore.protocol.replies import OK, ReplyError, Status

OUT_OF_RANGE = ReplyError("ERR DB index is out of range")


# -- the commands, in process ---------------------------------------------------------------


def test_select_move_swapdb_flush() -> None:
    run = Harness()
    assert run("SET", "a", "0") == OK
    assert run("SELECT", "3") == OK
    assert run("GET", "a") is None
    assert run("SET", "a", "3") == OK
    assert run("DBSIZE") == 1
    assert run("SELECT", "16") == OUT_OF_RANGE
    assert run("SELECT", "-1") == OUT_OF_RANGE
    assert run("SELECT", "x") == ReplyError("ERR value is not an integer or out of range")
    assert run("MOVE", "a", "3") == ReplyError("ERR source and destination objects are the same")
    assert run("MOVE", "a", "0") == 0  # there is an "a" in database 0
    assert run("MOVE", "missing", "0") == 0
    assert run("SET", "b", "3", "PX", "100000") == OK
    assert run("MOVE", "b", "5") == 1
    assert run("SELECT", "5") == OK
    assert run("PTTL", "b") == 100000  # the deadline moves with the key
    assert run("SWAPDB", "5", "0") == OK  # this session stays in 5, which now holds db 0's keys
    assert run("GET", "a") == b"0"
    assert run("GET", "b") is None
    assert run("SWAPDB", "x", "0") == ReplyError("ERR invalid first DB index")
    assert run("SWAPDB", "0", "x") == ReplyError("ERR invalid second DB index")
    assert run("SWAPDB", "0", "16") == OUT_OF_RANGE
    assert run("COPY", "a", "a", "DB", "3", "REPLACE") == 1
    assert run("COPY", "a", "a") == ReplyError("ERR source and destination objects are the same")
    assert run("SELECT", "3") == OK
    assert run("GET", "a") == b"0"
    assert run("FLUSHDB") == OK
    assert run("DBSIZE") == 0
    assert run("SELECT", "0") == OK
    assert run("GET", "b") == b"3"
    assert run("FLUSHALL") == OK
    assert all(len(db) == 0 for db in run.session.server.dbs)


def _exec_after(change: Callable[[Harness, Session], None]) -> object:
    run = Harness()
    run.session.server.runner = run.dispatcher
    run("SET", "k", "v")
    run("SELECT", "1")
    run("SET", "k", "v1")
    run("SELECT", "0")
    run("WATCH", "k")
    run("SELECT", "1")
    run("WATCH", "k")
    other = Session(run.session.server)
    change(run, other)
    run("MULTI")
    run("PING")
    return run("EXEC")


def _in(db: int, *args: str) -> Callable[[Harness, Session], None]:
    def change(run: Harness, other: Session) -> None:
        dispatcher = Dispatcher()
        dispatcher.execute(other, [b"SELECT", str(db).encode()])
        dispatcher.execute(other, [arg.encode() for arg in args])

    return change


@pytest.mark.parametrize(
    ("change", "runs"),
    [
        (_in(0, "PING"), True),
        (_in(0, "SET", "k", "x"), False),  # watched in database 0, though the session left it
        (_in(1, "SET", "k", "x"), False),
        (_in(2, "SET", "k", "x"), True),  # the same name in a database nobody watches
        (_in(2, "SWAPDB", "1", "2"), False),  # database 1's "k" is gone
        (_in(5, "SWAPDB", "3", "4"), True),
        (_in(3, "FLUSHDB"), True),
        (_in(3, "FLUSHALL"), False),
        (_in(0, "MOVE", "k", "7"), False),
    ],
)
def test_watch_across_databases(change: Callable[[Harness, Session], None], runs: bool) -> None:
    assert (_exec_after(change) == [Status("PONG")]) is runs


def test_unwatch_forgets_every_database() -> None:
    run = Harness()
    run("WATCH", "a")
    run("SELECT", "1")
    run("WATCH", "b")
    run("UNWATCH")
    assert all(db.watched_count == 0 for db in run.session.server.dbs)


# -- a real server ---------------------------------------------------------------------------


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> list[str]:
    return VARIANTS[request.param]


def _keyspace(r: redis.Redis) -> dict[str, object]:
    return dict(r.info("keyspace"))


def _fill(server: ServerProcess) -> dict[int, dict[bytes, bytes]]:
    """Writes in several databases, by every command that crosses them; what each holds."""
    r = [redis.Redis(port=server.port, db=n, socket_timeout=10) for n in range(16)]
    r[7].set("d", "7")
    r[8].set("d", "8")
    r[7].flushall()
    r[0].set("a", "0")
    r[0].set("gone", "x")
    r[1].set("b", "1")
    r[1].move("b", 2)  # b: database 2
    r[3].set("c", "3", px=600_000)
    r[3].swapdb(3, 4)  # c: database 4
    r[4].copy("c", "c2", destination_db="15")
    r[5].set("f", "5")
    r[5].flushdb()
    r[0].delete("gone")
    r[7].set("e", "7")
    r[0].set("a", "00")
    r[2].set("b", "2")
    r[4].set("c", "4", keepttl=True)
    r[15].set("z", "15")
    return {
        n: {cast_bytes(key): cast_bytes(r[n].get(key)) for key in r[n].keys("*")}
        for n in range(16)
        if r[n].dbsize()
    }


def cast_bytes(value: object) -> bytes:
    assert isinstance(value, bytes)
    return value


def _contents(server: ServerProcess) -> dict[int, dict[bytes, bytes]]:
    r = [redis.Redis(port=server.port, db=n, socket_timeout=10) for n in range(16)]
    return {
        n: {cast_bytes(key): cast_bytes(r[n].get(key)) for key in r[n].keys("*")}
        for n in range(16)
        if r[n].dbsize()
    }


def test_every_database_survives_sigkill_and_snapshots(
    server_factory: Callable[..., ServerProcess], variant: list[str], tmp_path: Path
) -> None:
    server = server_factory(*variant, "--dir", str(tmp_path))
    before = _fill(server)
    assert sorted(before) == [0, 2, 4, 7, 15]
    assert before[4] == {b"c": b"4"}
    assert before[7] == {b"e": b"7"}
    server.proc.send_signal(signal.SIGKILL)
    server.finish_log()
    server = server_factory(*variant, "--dir", str(tmp_path))
    assert _contents(server) == before
    assert 0 < redis.Redis(port=server.port, db=4).pttl("c") <= 600_000
    # Writes after a restart go on in the database the log ended in, then a snapshot.
    redis.Redis(port=server.port, db=9).set("after", "restart")
    redis.Redis(port=server.port).bgrewriteaof()
    redis.Redis(port=server.port, db=11).set("after", "snapshot")
    assert server.stop() == 0
    before[9] = {b"after": b"restart"}
    before[11] = {b"after": b"snapshot"}
    server = server_factory(*variant, "--dir", str(tmp_path))
    assert _contents(server) == before
    assert server.stop() == 0
    check = subprocess.run(
        [sys.executable, str(ROOT / "kvstore-check"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_log_for_a_database_past_databases_is_refused(tmp_path: Path) -> None:
    data = records.frame(records.encode_select(10) + records.encode_set(b"k", b"v", None))
    (tmp_path / "appendonly.1.log").write_bytes(data)
    done = run_server_to_exit("--dir", str(tmp_path), "--databases", "4")
    assert done.returncode != 0
    assert "database 10" in done.stderr
    assert "--databases 11" in done.stderr


def test_a_version_1_snapshot_loads_into_database_0(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    # As written before there were databases: version 1, no database markers.
    body = struct.pack(">6sHQQQ", b"KVSNAP", 1, 1, 0, 2)
    for key, value in ((b"old1", b"v1"), (b"old2", b"v2")):
        body += struct.pack(">IIq", len(key), len(value), -1) + key + value
    body += b"END!"
    (tmp_path / "snapshot.kvs").write_bytes(body + struct.pack(">I", zlib.crc32(body)))
    (tmp_path / "appendonly.1.log").write_bytes(b"")
    server = server_factory("--dir", str(tmp_path))
    assert _contents(server) == {0: {b"old1": b"v1", b"old2": b"v2"}}


def test_databases_option_and_info_keyspace(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--databases", "2", "--no-persist")
    r = redis.Redis(port=server.port, socket_timeout=10)
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.select(2)
    redis.Redis(port=server.port, db=1).set("k", "v")
    assert _keyspace(r) == {"db1": {"keys": 1, "expires": 0, "avg_ttl": 0}}
    assert r.config_get("databases") == {"databases": "2"}


def test_eviction_takes_keys_from_every_database(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(
        "--maxmemory", "40mb", "--maxmemory-policy", "allkeys-random", "--no-persist"
    )
    one = redis.Redis(port=server.port, db=1, socket_timeout=30)
    zero = redis.Redis(port=server.port, socket_timeout=30)
    value = b"x" * 100_000
    pipe = one.pipeline(transaction=False)
    for n in range(300):  # about 30 MB: more than the limit leaves beside the server itself
        pipe.set(f"one{n}", value)
    pipe.execute()
    for n in range(300):
        zero.set(f"zero{n}", value)  # database 0 alone could not make room for these
    assert one.dbsize() < 300
    assert int(zero.info("stats")["evicted_keys"]) > 0


# -- clients -----------------------------------------------------------------------------------


def test_redis_urls() -> None:
    endpoint = parse_url("redis://user:p%40ss@example.com:6380/3")
    assert (str(endpoint.address), endpoint.db, endpoint.username, endpoint.password) == (
        "example.com:6380",
        3,
        "user",
        "p@ss",
    )
    assert parse_url("rediss://[::1]/?db=2").tls
    assert parse_url("rediss://[::1]/?db=2").db == 2
    assert parse_url("redis://h").address.port == 5000
    with pytest.raises(ValueError, match="not a number"):
        parse_url("redis://h/x")


def test_library_and_cli_select_the_database(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--no-persist")
    with Client(f"redis://127.0.0.1:{server.port}/6") as client:
        client.set("k", "six")
    assert redis.Redis(port=server.port, db=6).get("k") == b"six"
    with Client(f"127.0.0.1:{server.port}", db=7) as client:
        client.set("k", "seven")
    for options, expected in (
        ([f"redis://127.0.0.1:{server.port}/6"], b"six\n"),
        (["-n", "7", f"127.0.0.1:{server.port}"], b"seven\n"),
        (["--db", "6", f"redis://127.0.0.1:{server.port}/7"], b"six\n"),  # the option wins
    ):
        out = subprocess.run(
            [sys.executable, str(CLIENT), *options, "get", "k"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        assert out.stdout == expected
    done = subprocess.run(
        [sys.executable, str(CLIENT), "-n", "16", f"127.0.0.1:{server.port}", "get", "k"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert b"DB index is out of range" in done.stderr + done.stdout


def test_text_protocol_select(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory("--no-persist")
    with server.connect() as sock:
        for request, reply in (
            (b"select 4\n", b"OK"),
            (b"put k v\n", b"OK"),
            (b"dbsize\n", b"1"),
            (b"select 0\n", b"OK"),
            (b"get k\n", b"Key not found"),
        ):
            sock.sendall(request)
            assert read_exactly(sock, len(reply)) == reply
    assert redis.Redis(port=server.port, db=4).get("k") == b"v"


def test_a_fresh_state_has_sixteen_databases() -> None:
    state = ServerState()
    assert len(state.dbs) == 16
    assert Session(state).db is state.dbs[0]
    assert len(Databases(1)) == 1
