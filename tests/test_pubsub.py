"""Publish/subscribe against real servers: the same scripted exchanges on a real redis-server
and on kvstore, compared byte for byte (RESP2 and RESP3, several connections); redis-py's own
pub/sub API used unmodified; the pubsub class of the output limit; the counters."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import pytest
import redis

from conftest import ServerProcess, wait_for
from kvstore.protocol import encode_request
from wire_scripts import Step, assert_script_matches_redis, cmd

SCRIPTS: dict[str, tuple[int, list[Step]]] = {
    "resp2": (
        3,
        [
            (0, [cmd("SUBSCRIBE", "a", "b", "a")]),
            (0, [cmd("PING"), cmd("PING", "x"), cmd("GET", "k"), cmd("SET", "k", "v")]),
            (0, [cmd("PSUBSCRIBE", "n*", "h?llo"), cmd("PUNSUBSCRIBE", "zz")]),
            (1, [cmd("PUBLISH", "a", "one"), cmd("PUBLISH", "news", "two")]),
            (1, [cmd("PUBLISH", "hello", "3"), cmd("PUBLISH", "nobody", "")]),
            (0, []),
            (1, [cmd("PUBSUB", "NUMSUB", "a", "b", "c"), cmd("PUBSUB", "NUMPAT")]),
            (1, [cmd("PUBSUB", "CHANNELS", "a*"), cmd("PUBSUB", "CHANNELS", "zz")]),
            (2, [cmd("SSUBSCRIBE", "s1", "s2"), cmd("SPUBLISH", "s1", "hi")]),
            (1, [cmd("SPUBLISH", "s2", "x"), cmd("PUBSUB", "SHARDNUMSUB", "s1", "s9")]),
            (1, [cmd("PUBSUB", "SHARDCHANNELS", "s1"), cmd("PUBSUB", "HELP")]),
            # (unsubscribing from all goes in each server's hash order: one left to go)
            (2, [cmd("GET", "k"), cmd("SUNSUBSCRIBE", "s1"), cmd("SUNSUBSCRIBE")]),
            (2, [cmd("SUNSUBSCRIBE"), cmd("GET", "k")]),
            (0, [cmd("UNSUBSCRIBE", "a", "q"), cmd("UNSUBSCRIBE")]),
            (0, [cmd("MULTI"), cmd("PUNSUBSCRIBE"), cmd("PUNSUBSCRIBE"), cmd("GET", "k")]),
            (0, [cmd("UNSUBSCRIBE"), cmd("PUBSUB", "NUMPAT"), cmd("PUBSUB", "BOGUS")]),
            (0, [cmd("SUBSCRIBE", "c", "d"), cmd("PSUBSCRIBE", "e*")]),
            (0, [cmd("RESET"), cmd("GET", "k"), cmd("PUBSUB", "NUMSUB", "c", "d")]),
            (0, [cmd("SUBSCRIBE", "c")]),
            (1, [cmd("PUBSUB", "NUMSUB", "c"), cmd("SUBSCRIBE"), cmd("PUBLISH", "c")]),
        ],
    ),
    "resp3": (
        2,
        [
            (0, [cmd("HELLO", "3")]),
            (0, [cmd("SUBSCRIBE", "ch"), cmd("PUBLISH", "ch", "to myself"), cmd("SET", "k", "1")]),
            (0, [cmd("PSUBSCRIBE", "c*"), cmd("PUBLISH", "ch", "both"), cmd("GET", "k")]),
            (1, [cmd("PUBLISH", "ch", "from another"), cmd("PUBLISH", "cx", "pattern")]),
            (0, [cmd("SSUBSCRIBE", "s"), cmd("SPUBLISH", "s", "shard")]),
            (0, [cmd("UNSUBSCRIBE"), cmd("PUNSUBSCRIBE"), cmd("SUNSUBSCRIBE"), cmd("UNSUBSCRIBE")]),
            (0, [cmd("SUBSCRIBE", "x")]),
            (0, [cmd("HELLO", "2")]),
            (0, [cmd("GET", "k"), cmd("UNSUBSCRIBE"), cmd("GET", "k")]),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_exchanges_match_redis_byte_for_byte(servers: tuple[int, ServerProcess], name: str) -> None:
    assert_script_matches_redis(servers, SCRIPTS[name])


def test_the_text_protocol_refuses_to_subscribe(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(b"SUBSCRIBE ch\r\nPUBLISH ch hello\r\n")
        data = b""
        while data.count(b"\n") < 2:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
    first, second = data.decode().splitlines()[:2]
    assert "text protocol cannot receive pushed messages" in first
    assert second == "0"


def test_redis_py_pubsub_works_unmodified(server: ServerProcess) -> None:
    client = redis.Redis(host=server.host, port=server.port)
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("user:*")
    assert pubsub.get_message(timeout=5) == {
        "type": "subscribe",
        "pattern": None,
        "channel": b"news",
        "data": 1,
    }
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    assert client.publish("news", "hello") == 1
    assert client.publish("user:7", "joined") == 1
    assert client.pubsub_numsub("news") == [(b"news", 1)]
    assert client.pubsub_numpat() == 1
    assert client.pubsub_channels() == [b"news"]
    assert pubsub.get_message(timeout=5)["data"] == b"hello"
    message = pubsub.get_message(timeout=5)
    assert message == {
        "type": "pmessage",
        "pattern": b"user:*",
        "channel": b"user:7",
        "data": b"joined",
    }
    pubsub.unsubscribe("news")  # type: ignore[no-untyped-call]
    pubsub.punsubscribe()  # type: ignore[no-untyped-call]
    assert pubsub.get_message(timeout=5)["type"] == "unsubscribe"
    assert pubsub.get_message(timeout=5)["type"] == "punsubscribe"
    pubsub.close()

    listened = client.pubsub(ignore_subscribe_messages=True)
    listened.subscribe("feed")
    client.publish("feed", "a")
    client.publish("feed", "stop")
    seen = []
    for item in listened.listen():  # type: ignore[no-untyped-call]
        if item["type"] != "message":
            continue
        seen.append(item["data"])
        if item["data"] == b"stop":
            break
    assert seen == [b"a", b"stop"]
    listened.close()

    received: list[bytes] = []
    done = threading.Event()

    def handler(message: dict[str, Any]) -> None:
        received.append(message["data"])
        done.set()

    threaded = client.pubsub()
    threaded.subscribe(jobs=handler)
    worker = threaded.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        wait_for(lambda: client.publish("jobs", "job-1") == 1 and done.wait(0.5), 10, "delivery")
    finally:
        worker.stop()
        worker.join(5)
        threaded.close()
    assert received[0] == b"job-1"
    client.close()


def test_redis_py_pubsub_over_resp3(server: ServerProcess) -> None:
    client = redis.Redis(host=server.host, port=server.port, protocol=3)
    pubsub = client.pubsub()
    pubsub.subscribe("ch3")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    assert client.get("nothing") is None  # any command runs on a RESP3 connection
    assert client.publish("ch3", "pushed") == 1
    message = pubsub.get_message(timeout=5)
    assert (message["type"], message["channel"], message["data"]) == (
        "message",
        b"ch3",
        b"pushed",
    )
    pubsub.close()
    client.close()


def _info(client: redis.Redis, section: str) -> dict[str, Any]:
    return client.info(section)


def test_counters_and_client_list(server: ServerProcess) -> None:
    client = redis.Redis(host=server.host, port=server.port)
    pubsub = client.pubsub()
    pubsub.subscribe("c1", "c2")
    pubsub.psubscribe("p*")
    pubsub.ssubscribe("s1")
    wait_for(lambda: _info(client, "stats")["pubsub_channels"] == 2, 10, "the subscriptions")
    stats = _info(client, "stats")
    assert (stats["pubsub_patterns"], stats["pubsubshard_channels"]) == (1, 1)
    lines = client.execute_command("CLIENT", "LIST").decode().splitlines()  # type: ignore[no-untyped-call]
    assert any(" sub=2 psub=1 ssub=1 " in line for line in lines)
    pubsub.close()
    wait_for(lambda: _info(client, "stats")["pubsub_channels"] == 0, 10, "the subscriber gone")
    assert _info(client, "stats")["pubsub_patterns"] == 0
    client.close()


def test_a_subscriber_that_does_not_read_is_cut_off(server_factory: Any) -> None:
    limits = "normal 0 0 0 pubsub 1mb 0 0"
    server = server_factory("--no-persist", "--client-output-buffer-limit", limits)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    slow.connect((server.host, server.port))
    slow.sendall(encode_request([b"SUBSCRIBE", b"firehose"]))
    publisher = redis.Redis(host=server.host, port=server.port)
    wait_for(lambda: publisher.publish("firehose", "") == 1, 10, "the subscription")
    payload = b"x" * 64 * 1024
    deadline = time.monotonic() + 30
    while publisher.publish("firehose", payload) == 1:  # until the subscriber is gone
        assert time.monotonic() < deadline, "the subscriber was never cut off"
    server.wait_for_log("client-output-buffer-limit (hard limit 1048576)")
    stats = _info(publisher, "stats")
    assert stats["client_output_buffer_limit_disconnections"] == 1
    assert stats["pubsub_channels"] == 0
    shown = publisher.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    assert shown == "normal 0 0 0 pubsub 1048576 0 0"
    publisher.close()
    with contextlib.suppress(OSError):
        slow.close()
