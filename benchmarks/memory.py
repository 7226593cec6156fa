"""The figures that are not throughput: memory per key, memory per idle connection, and the time
to restart with a million keys. Each side runs on a fresh server; memory is the growth of the
server process's resident set size (VmRSS), so allocator overhead counts as it does in real use.
"""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Callable
from typing import Any

from benchmarks import wire
from benchmarks.servers import Pairing, Server, ServerSet, rss_bytes

KINDS = ("redis", "kvstore")
KEY_SIZE = 16
VALUE_SIZE = 32
#: Connections opened (and sent one PING each) at a time, well under both listen backlogs.
CONNECT_BATCH = 500
#: Descriptors the harness keeps for itself besides the idle connections.
SPARE_DESCRIPTORS = 256
#: How long a restarted server may serve a wrong DBSIZE before the restart counts as failed.
WRONG_COUNT_GRACE = 10.0


def _settled_rss(server: Server) -> int:
    with wire.connect(server.port) as sock:
        wire.call(sock, "PING")
    return rss_bytes(server.pid)


def _both(measure: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Measure each side, then the kvstore/Redis ratio of their ``per_item`` figures."""
    result: dict[str, Any] = {kind: measure(kind) for kind in KINDS}
    redis, kvstore = result["redis"]["per_item"], result["kvstore"]["per_item"]
    result["ratio"] = kvstore / redis if redis > 0 else None
    return result


def memory_per_key(servers: ServerSet, pairing: Pairing, keys: int) -> dict[str, Any]:
    batches = list(wire.set_commands(keys, VALUE_SIZE))

    def measure(kind: str) -> dict[str, Any]:
        server = servers.start(kind, pairing)
        try:
            before = _settled_rss(server)
            wire.load(server.port, batches, keys)
            after = _settled_rss(server)
        finally:
            servers.discard(server)
        return {"rss_before": before, "rss_after": after, "per_item": (after - before) / keys}

    return {"keys": keys, "key_size": KEY_SIZE, "value_size": VALUE_SIZE, **_both(measure)}


def raise_descriptor_limit(connections: int) -> str | None:
    """Raise this process's RLIMIT_NOFILE (which the servers inherit) to hold ``connections``
    sockets; return why it cannot, or None."""
    needed = connections + SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return None
    try:
        if hard != resource.RLIM_INFINITY and hard < needed:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:
        return f"cannot raise the open-file limit to {needed} (soft {soft}, hard {hard}): {exc}"
    return None


def _open_idle(port: int, count: int, into: list[socket.socket]) -> None:
    """Open ``count`` connections, each answering one PING before the next batch: that proves
    the server accepted it and leaves it in the state of a client that has talked and waits."""
    while count > 0:
        batch = [wire.connect(port) for _ in range(min(CONNECT_BATCH, count))]
        into.extend(batch)
        for sock in batch:
            sock.sendall(wire.encode("PING"))
        for sock in batch:
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    raise ConnectionError("the server closed an idle connection")
                reply += chunk
            if reply != b"+PONG\r\n":
                raise wire.ServerReplyError(reply.decode(errors="replace"))
        count -= len(batch)


def memory_per_connection(servers: ServerSet, pairing: Pairing, count: int) -> dict[str, Any]:
    def measure(kind: str) -> dict[str, Any]:
        server = servers.start(kind, pairing)
        sockets: list[socket.socket] = []
        try:
            before = _settled_rss(server)
            _open_idle(server.port, count, sockets)
            after = _settled_rss(server)
        finally:
            for sock in sockets:
                sock.close()
            servers.discard(server)
        return {"rss_before": before, "rss_after": after, "per_item": (after - before) / count}

    return {"connections": count, **_both(measure)}


def restart_time(servers: ServerSet, pairing: Pairing, kind: str, keys: int) -> dict[str, Any]:
    """Fill, stop gracefully, start again on the same directory: seconds from the start until
    the server answers PING and DBSIZE counts every key."""
    server = servers.start(kind, pairing)
    try:
        wire.load(server.port, list(wire.set_commands(keys, VALUE_SIZE)), keys)
        stopped = time.monotonic()
        code = server.stop()
        stop_seconds = time.monotonic() - stopped
        if code != 0:
            raise RuntimeError(f"{kind} exited with {code} on SIGTERM:\n{server.log_tail()}")
        on_disk = server.disk_usage()
        server.launch()

        wrong_since: list[float] = []

        def loaded(sock: socket.socket) -> bool:
            if wire.call(sock, "PING") != b"PONG":
                return False
            size = wire.call(sock, "DBSIZE")
            if size == keys:
                return True
            # Serving with the wrong count (rather than refusing while loading) for long:
            # the data did not survive the restart.
            wrong_since.append(time.monotonic())
            if wrong_since[-1] - wrong_since[0] > WRONG_COUNT_GRACE:
                raise RuntimeError(f"{kind} restarted with {size!r} keys, {keys} expected")
            return False

        server.wait_until(loaded, f"DBSIZE {keys}", timeout=600.0)
        seconds = time.monotonic() - server.started_at
    finally:
        servers.discard(server)
    return {"seconds": seconds, "stop_seconds": stop_seconds, "bytes_on_disk": on_disk}
