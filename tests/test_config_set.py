"""CONFIG SET and CONFIG RESETSTAT on a real server: each change is applied at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from conftest import ServerProcess, wait_for
from kvstore.config import ServerConfig
from kvstore.config.runtime import RuntimeConfig, SettingRefusedError, UnknownSettingError
from kvstore.keyspace import Keyspace
from kvstore.persistence import Persistence
from kvstore.server.assembly import persistence_settings

Factory = Callable[..., ServerProcess]


def client(server: ServerProcess, **options: object) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=10, **options)  # type: ignore[arg-type]


def run(r: redis.Redis, *args: str) -> object:
    return r.execute_command(*args)  # type: ignore[no-untyped-call]


def test_a_new_password_applies_to_new_connections(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    before = client(server)
    assert run(before, "CONFIG", "SET", "requirepass", "s3cret") == b"OK"
    assert before.ping()  # already in, as with Redis
    with pytest.raises(redis.AuthenticationError):
        client(server).ping()
    assert client(server, password="s3cret").config_get("requirepass") == {
        "requirepass": "********"
    }
    assert run(before, "CONFIG", "SET", "requirepass", "") == b"OK"
    assert client(server).ping()


def test_the_log_level_changes_at_once(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    run(r, "CONFIG", "SET", "log-level", "error")
    run(r, "CONFIG", "SET", "appendfsync", "always")  # logged at info: not shown now
    run(r, "CONFIG", "SET", "log_level", "info")
    wait_for(lambda: any("CONFIG SET log_level" in line for line in server.log), 10, "the log")
    assert not any("CONFIG SET appendfsync" in line for line in server.log)
    assert r.config_get("log-level") == {"log-level": "info"}


def test_appendfsync_and_compaction_thresholds(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory("--dir", str(tmp_path))
    r = client(server)
    run(r, "CONFIG", "SET", "appendfsync", "always", "auto-aof-rewrite-min-size", "1024")
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    assert r.config_get("auto-aof-rewrite-min-size") == {"auto-aof-rewrite-min-size": "1024"}
    r.set("k", "v")
    assert r.get("k") == b"v"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("port", "1"), "(possibly related to argument 'port') - can't set immutable config"),
        (("nope", "1"), "Unknown option or number of arguments for CONFIG SET - 'nope'"),
        (
            ("appendfsync", "sometimes"),
            "argument(s) must be one of the following: always, everysec, no",
        ),
        (("log-level", "info", "log_level", "debug"), "duplicate parameter"),
        (("auto-aof-rewrite-percentage", "x"), "argument couldn't be parsed into an integer"),
        (("log-level",), "wrong number of arguments for 'config|set' command"),
    ],
)
def test_refusals_change_nothing(
    server_factory: Factory, args: tuple[str, ...], error: str
) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    with pytest.raises(redis.ResponseError) as caught:
        run(r, "CONFIG", "SET", "requirepass", "x", *args)
    assert error in str(caught.value)
    assert client(server).ping()  # the password before the bad pair was not set either


def test_resetstat(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    for _ in range(5):
        r.get("missing")
    assert r.info("stats")["keyspace_misses"] == 5
    assert run(r, "CONFIG", "RESETSTAT") == b"OK"
    stats = r.info("stats")
    assert stats["keyspace_misses"] == 0
    assert stats["total_commands_processed"] <= 2


def test_hooks_run_once_after_every_value_is_set() -> None:
    config = ServerConfig()
    runtime = RuntimeConfig(config)
    seen: list[tuple[str, str]] = []
    runtime.on_change("log_level", lambda c: seen.append((c.log_level, c.appendfsync)))
    runtime.set([("log-level", "debug"), ("appendfsync", "no")])
    assert seen == [("debug", "no")]
    with pytest.raises(SettingRefusedError):
        runtime.set([("log-level", "error"), ("port", "1")])
    assert config.log_level == "debug"
    with pytest.raises(UnknownSettingError):
        runtime.set([("colour", "blue")])
    with pytest.raises(ValueError, match="not an option that can change"):
        runtime.on_change("port", lambda c: None)


def test_switching_the_fsync_policy_starts_and_stops_the_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = ServerConfig(dir=str(tmp_path), appendfsync="everysec")
        persistence = Persistence(persistence_settings(config), Keyspace())
        persistence.open(asyncio.get_running_loop())
        try:
            assert persistence.log._thread is not None
            persistence.set_fsync_policy("always")
            assert persistence.log.policy == "always"
            assert persistence.log._thread is None
            persistence.set_fsync_policy("everysec")
            assert persistence.log._thread is not None
            assert persistence.log._thread.is_alive()
            assert "appendfsync everysec" in persistence.describe()
        finally:
            persistence.close()
        assert persistence.log._thread is None

    asyncio.run(scenario())


def test_the_slow_log_threshold_and_length_change_at_once(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    r.ping()
    assert run(r, "SLOWLOG", "LEN") == 0  # nothing is that slow at the default threshold
    run(r, "CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "3")
    for _ in range(5):
        r.ping()
    assert run(r, "SLOWLOG", "LEN") == 3  # every command logged, the oldest dropped
    run(r, "CONFIG", "SET", "slowlog-log-slower-than", "-1")
    run(r, "SLOWLOG", "RESET")
    r.ping()
    assert run(r, "SLOWLOG", "LEN") == 0
    assert r.config_get("slowlog-*") == {
        "slowlog-log-slower-than": "-1",
        "slowlog-max-len": "3",
    }


def test_limits_change_at_run_time(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    other = client(server)
    other.ping()  # connected before the change: follows it too
    assert run(r, "CONFIG", "SET", "proto-max-bulk-len", "1mb") == b"OK"
    assert r.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": "1048576"}
    with pytest.raises(redis.ResponseError, match="Protocol error: invalid bulk length"):
        other.set("k", b"x" * (1024 * 1024 + 1))
    with pytest.raises(redis.ResponseError, match="argument must be between 1048576 and"):
        run(r, "CONFIG", "SET", "proto-max-bulk-len", "10")
    with pytest.raises(redis.ResponseError, match="argument must be between 1048576 and"):
        run(r, "CONFIG", "SET", "client-query-buffer-limit", "10")
    assert run(r, "CONFIG", "SET", "client-query-buffer-limit", "2mb") == b"OK"
    assert r.config_get("client-query-buffer-limit") == {"client-query-buffer-limit": "2097152"}
    with pytest.raises(redis.ResponseError, match="argument must be between 1 and"):
        run(r, "CONFIG", "SET", "maxclients", "0")
    assert run(r, "CONFIG", "SET", "maxclients", "1") == b"OK"  # "other" was closed
    with pytest.raises(redis.ConnectionError, match="max number of clients"):
        client(server).ping()  # the second
    assert run(r, "CONFIG", "SET", "maxclients", "100") == b"OK"
    assert client(server).ping()


def test_maxmemory_and_its_policy_change_at_run_time(server_factory: Factory) -> None:
    server = server_factory("--no-persist", "--maxmemory", "1gb")
    r = client(server)
    three = client(server, db=3)
    for n in range(100):
        r.set(f"k{n}", "v")
    for n in range(10):
        three.set(f"k{n}", "v")
    # A limit below the server's own size: nothing can make room.
    assert run(r, "CONFIG", "SET", "maxmemory", "1") == b"OK"
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("more", "v")
    assert r.dbsize() == 100  # noeviction: refused, nothing evicted
    assert run(r, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == b"OK"
    assert r.config_get("maxmemory*") == {"maxmemory": "1", "maxmemory-policy": "allkeys-lru"}
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("more", "v")
    assert (r.dbsize(), three.dbsize()) == (0, 0)  # every database gave its keys
    assert int(r.info("stats")["evicted_keys"]) == 110
    assert run(r, "CONFIG", "SET", "maxmemory", "1gb") == b"OK"
    assert r.set("more", "v")
    assert run(r, "CONFIG", "SET", "maxmemory", "1") == b"OK"
    assert run(r, "CONFIG", "SET", "maxmemory-policy", "noeviction") == b"OK"
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("again", "v")
    assert run(r, "CONFIG", "SET", "maxmemory", "0") == b"OK"  # no limit at all, as in Redis
    assert r.set("again", "v")


def test_maxmemory_needs_a_server_started_with_one(server_factory: Factory) -> None:
    r = client(server_factory("--no-persist"))
    with pytest.raises(
        redis.ResponseError,
        match=r"CONFIG SET failed \(possibly related to argument 'maxmemory'\) - kvstore was "
        "started without maxmemory",
    ):
        run(r, "CONFIG", "SET", "maxmemory", "10mb")
    assert run(r, "CONFIG", "SET", "maxmemory", "0") == b"OK"


def test_writing_back_what_config_get_gives_is_accepted(server_factory: Factory) -> None:
    """As Redis's suite does ("CONFIG sanity"): every option set to the value CONFIG GET shows
    is OK, even those kvstore cannot change while it runs; another value for those is refused,
    and DATABASES and DAEMONIZE, which Redis itself never changes at run time, are refused
    outright."""
    server = server_factory("--no-persist")
    r = client(server)
    pairs = run(r, "CONFIG", "GET", "*")  # redis-py makes the reply a dict
    assert isinstance(pairs, dict)
    for name, value in pairs.items():
        if name in (b"databases", b"daemonize"):
            continue
        assert run(r, "CONFIG", "SET", name, value) == b"OK", name
    assert run(r, "CONFIG", "GET", "*") == pairs
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        run(r, "CONFIG", "SET", "port", str(server.port + 1))
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        run(r, "CONFIG", "SET", "databases", pairs[b"databases"].decode())
    with pytest.raises(redis.ResponseError, match="Unknown option"):
        run(r, "CONFIG", "SET", "save", "3600 1")
