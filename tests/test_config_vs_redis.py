"""CONFIG SET of settings whose effect Redis's own suite checks, on kvstore and on a real
redis-server side by side: the same replies, events and keys on both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from conftest import ServerProcess
from test_client_support import RedisServer, start_redis_server

Factory = Callable[..., ServerProcess]


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[RedisServer]:
    process = start_redis_server(tmp_path)
    try:
        yield process
    finally:
        process.stop()


def both(server_factory: Factory, reference: RedisServer) -> dict[str, redis.Redis]:
    # kvstore keeps eviction data only when started with a limit: one it never reaches.
    kvstore = server_factory("--no-persist", "--maxmemory", "64gb")
    return {
        name: redis.Redis(port=port, socket_timeout=10)
        for name, port in (("kvstore", kvstore.port), ("redis", reference.port))
    }


def evicted_events(pubsub: redis.client.PubSub, count: int) -> list[bytes]:
    """The keys of the next ``count`` evicted events, waiting at most ten seconds."""
    keys: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(keys) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is not None and message["type"] == "pmessage":
            assert message["channel"] == b"__keyevent@0__:evicted"
            keys.append(message["data"])
    return sorted(keys)


def lower_the_limit(r: redis.Redis) -> tuple[int, int, list[bytes], int]:
    """Keys left after lowering maxmemory under noeviction, then under allkeys-lru (with the
    evicted events heard and INFO's count), as Redis's "Keyspace notifications: evicted
    events" test does it."""
    r.config_set("notify-keyspace-events", "Ee")
    r.mset({"foo": "bar", "baz": "qux"})
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*")
    try:
        r.config_set("maxmemory", "1")
        kept = r.dbsize()  # noeviction: nothing goes, writes are refused
        r.config_set("maxmemory", "0")
        r.config_set("maxmemory-policy", "allkeys-lru")
        r.config_set("maxmemory", "1")  # evicts at once, not at the next write
        events = evicted_events(pubsub, 2)
        left = r.dbsize()
        evicted = int(r.info("stats")["evicted_keys"])
    finally:
        r.config_set("maxmemory", "0")
        r.config_set("maxmemory-policy", "noeviction")
        pubsub.close()
    return kept, left, events, evicted


def test_lowering_maxmemory_evicts_at_once(server_factory: Factory, reference: RedisServer) -> None:
    seen = {name: lower_the_limit(r) for name, r in both(server_factory, reference).items()}
    assert seen["kvstore"] == seen["redis"] == (2, 0, [b"baz", b"foo"], 2)


def test_limit_and_policy_set_together_evict_at_once(
    server_factory: Factory, reference: RedisServer
) -> None:
    def left(r: redis.Redis) -> int:
        r.mset({"a": "1", "b": "2"})
        try:
            r.config_set("maxmemory", "1", "maxmemory-policy", "allkeys-random")  # either order
            return r.dbsize()
        finally:
            r.config_set("maxmemory", "0", "maxmemory-policy", "noeviction")

    seen = {name: left(r) for name, r in both(server_factory, reference).items()}
    assert seen == {"kvstore": 0, "redis": 0}


def test_daemonize_is_known_and_immutable(server_factory: Factory, reference: RedisServer) -> None:
    def answers(r: redis.Redis) -> list[object]:
        replies: list[object] = [r.config_get("daemonize")]
        for value in ("yes", "no"):  # refused even as the value it has, as in Redis
            with pytest.raises(redis.ResponseError) as refused:
                r.config_set("daemonize", value)
            replies.append(str(refused.value))
        replies.append("daemonize" in r.config_get("*"))
        return replies

    seen = {name: answers(r) for name, r in both(server_factory, reference).items()}
    assert seen["kvstore"] == seen["redis"]
    assert seen["redis"][:2] == [
        {"daemonize": "no"},
        "CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config",
    ]
