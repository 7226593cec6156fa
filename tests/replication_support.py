"""Helpers for the replication tests: primaries and replicas as real ``./server`` processes on
loopback, waiting on INFO conditions with deadlines, and comparing two nodes key by key."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

import kvstore
from conftest import ServerProcess, start_server

#: Generous: a full copy of a million keys on a loaded machine takes a while.
SYNC_TIMEOUT = 120.0


def command(server: ServerProcess, *args: str | int) -> Any:
    """One command's reply, through kvstore's own library."""
    with kvstore.Client(server.address) as connection:
        return connection.execute_command(*args)


def client(server: ServerProcess, db: int = 0) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, db=db, socket_timeout=60)


def info(server: ServerProcess, section: str = "replication") -> dict[str, str]:
    """INFO ``section`` as text fields."""
    with kvstore.Client(server.address) as connection:
        raw = connection.execute_command("INFO", section)
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            name, _, value = line.partition(":")
            fields[name] = value
    return fields


def wait_until(
    check: Callable[[], bool], what: str, timeout: float = SYNC_TIMEOUT, every: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # a node restarting: ask again
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def link_up(replica: ServerProcess) -> bool:
    return info(replica).get("master_link_status") == "up"


def offset(server: ServerProcess) -> int:
    return int(info(server)["master_repl_offset"])


def caught_up(primary: ServerProcess, *replicas: ServerProcess) -> Callable[[], bool]:
    """True once every replica's link is up at the primary's offset."""

    def check() -> bool:
        target = offset(primary)
        return all(link_up(each) and offset(each) == target for each in replicas)

    return check


def wait_caught_up(primary: ServerProcess, *replicas: ServerProcess) -> None:
    wait_until(caught_up(primary, *replicas), "the replicas to reach the primary's offset")


def acked_offsets(primary: ServerProcess) -> list[int]:
    """The offsets the primary's online replicas acknowledged (INFO's slaveN lines; one still
    waiting for its copy counts as nothing)."""
    fields = info(primary)
    lines = [fields[name] for name in fields if name.startswith("slave") and name[5:].isdigit()]
    links = [dict(part.split("=") for part in line.split(",")) for line in lines]
    return [int(link["offset"]) for link in links if link["state"] == "online"]


def wait_acked(primary: ServerProcess, replicas: int) -> None:
    """Until ``replicas`` replicas acknowledged the primary's offset."""

    def check() -> bool:
        target = offset(primary)
        return sum(1 for each in acked_offsets(primary) if each == target) == replicas

    wait_until(check, f"{replicas} acknowledgements of the primary's offset")


def start_replica(primary: ServerProcess, *args: str) -> ServerProcess:
    return start_server("--replicaof", f"{primary.host} {primary.port}", *args)


def contents(server: ServerProcess, databases: int = 1) -> dict[tuple[int, bytes], Any]:
    """Every key with its value, database by database (SCAN, then MGET)."""
    found: dict[tuple[int, bytes], Any] = {}
    for db in range(databases):
        connection = client(server, db)
        keys = list(connection.scan_iter(count=10_000))
        for start in range(0, len(keys), 10_000):
            chunk = keys[start : start + 10_000]
            for key, value in zip(chunk, connection.mget(chunk), strict=True):
                if value is not None:  # expired between SCAN and MGET
                    found[(db, key)] = value
    return found


def stat(server: ServerProcess, name: str) -> int:
    return int(info(server, "stats")[name])
