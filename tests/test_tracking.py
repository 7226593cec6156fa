"""Client-side caching (CLIENT TRACKING and friends) against a real redis-server: scripted
exchanges on several connections, compared byte for byte; and the bound on tracked keys."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from conftest import ServerProcess
from wire_scripts import Step, Wire, assert_script_matches_redis, cmd

#: ``{1}`` in an argument stands for the id of connection 1 (see wire_scripts).
SCRIPTS: dict[str, tuple[int, list[Step]]] = {
    "default-mode": (
        2,
        [
            (0, [cmd("HELLO", "3")]),
            (0, [cmd("CLIENT", "TRACKING", "on"), cmd("CLIENT", "TRACKINGINFO")]),
            (0, [cmd("SET", "k", "1"), cmd("GET", "k"), cmd("MGET", "a", "b")]),
            (1, [cmd("SET", "k", "2"), cmd("SET", "k", "3"), cmd("DEL", "a")]),
            (0, [cmd("GET", "k"), cmd("SET", "k", "4")]),
            (0, [cmd("GET", "k"), cmd("MULTI"), cmd("SET", "k", "5"), cmd("EXEC")]),
            (0, [cmd("GET", "k")]),
            (1, [cmd("FLUSHALL")]),
            (0, [cmd("CLIENT", "GETREDIR"), cmd("CLIENT", "TRACKING", "off")]),
            (0, [cmd("CLIENT", "TRACKINGINFO"), cmd("CLIENT", "GETREDIR")]),
        ],
    ),
    "bcast-and-noloop": (
        2,
        [
            (0, [cmd("HELLO", "3")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "u:", "NOLOOP")]),
            (0, [cmd("CLIENT", "TRACKINGINFO"), cmd("SET", "u:1", "x")]),
            (1, [cmd("SET", "u:2", "x")]),
            (1, [cmd("SET", "v", "x")]),
            (0, [cmd("CLIENT", "TRACKING", "on"), cmd("CLIENT", "TRACKING", "on", "PREFIX", "u")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "w")]),
            (0, [cmd("CLIENT", "TRACKINGINFO")]),
        ],
    ),
    "optin-optout": (
        2,
        [
            (0, [cmd("HELLO", "3")]),
            (0, [cmd("CLIENT", "CACHING", "yes"), cmd("CLIENT", "TRACKING", "on", "OPTIN")]),
            (0, [cmd("GET", "a"), cmd("CLIENT", "CACHING", "yes"), cmd("GET", "b")]),
            (0, [cmd("CLIENT", "CACHING", "no"), cmd("CLIENT", "CACHING", "maybe")]),
            (1, [cmd("MSET", "a", "1", "b", "1")]),
            (0, [cmd("CLIENT", "TRACKING", "off"), cmd("CLIENT", "TRACKING", "on", "OPTOUT")]),
            (0, [cmd("CLIENT", "CACHING", "no"), cmd("GET", "a"), cmd("GET", "b")]),
            (1, [cmd("MSET", "a", "2", "b", "2")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "OPTIN")]),
        ],
    ),
    "redirect-resp2": (
        2,
        [
            (1, [cmd("SUBSCRIBE", "__redis__:invalidate")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "REDIRECT", "{1}"), cmd("GET", "k")]),
            (0, [cmd("SET", "k", "v")]),
            (1, []),
            (0, [cmd("CLIENT", "TRACKING", "on", "REDIRECT", "999999")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "PREFIX", "a"), cmd("CLIENT", "TRACKING", "x")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a")]),
            (0, [cmd("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT")]),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_exchanges_match_redis_byte_for_byte(servers: tuple[int, ServerProcess], name: str) -> None:
    assert_script_matches_redis(servers, SCRIPTS[name], name_ids=True)


def test_the_table_of_tracked_keys_is_bounded(server_factory: Any) -> None:
    server: ServerProcess = server_factory("--tracking-table-max-keys", "10")
    wire = Wire(server.port)
    wire.exchange([cmd("HELLO", "3"), cmd("CLIENT", "TRACKING", "on")])
    data = wire.exchange([cmd("GET", f"k{i}") for i in range(15)])
    # The oldest keys are forgotten (their reader told) to stay within 10.
    forgotten = b"".join(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk%d\r\n" % i for i in range(5))
    assert data.replace(b"_\r\n", b"") == forgotten + b"$7\r\ntoken-2\r\n"
    wire.sock.close()
    client = redis.Redis(port=server.port)
    assert client.config_get("tracking-table-max-keys") == {"tracking-table-max-keys": "10"}
    client.close()
