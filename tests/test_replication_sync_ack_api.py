"""The synchronous-acknowledgement interface the cluster's failover calls on ``Replication``
(announce_node_id, hold_writes_for, sync_replicas, oldest_held_write, drop_held_writes): a
primary and a replica assembled in this process, on real loopback sockets."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Awaitable, Callable

from conftest import free_port
from kvstore.config import load_config
from kvstore.server.app import Server
from kvstore.server.assembly import assemble
from kvstore.server.listeners import StartupError

SET = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
DEADLINE = 30.0


async def _start(*argv: str, node_id: str = "") -> Server:
    for _ in range(20):  # again on another port if another process took this one first
        try:
            server = await assemble(
                load_config(["--port", str(free_port()), "--no-persist", *argv], {})
            )
        except StartupError as exc:
            if "address already in use" not in str(exc):
                raise
            continue
        if node_id:
            server.replication.announce_node_id(node_id)  # in its handshake
        await server.start()
        return server
    raise AssertionError("no free port to listen on")


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)  # lets both servers run: the condition is what is waited on


async def _connect(server: Server) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.config.port))
    return sock


async def _reply(sock: socket.socket) -> bytes:
    """What the server sends until it writes a whole line, or closes (b"")."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1024), DEADLINE)
        if not chunk:
            return data
        data += chunk
    return data


def _nothing_to_read(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def _run(scenario: Callable[[Server, Server], Awaitable[None]]) -> None:
    async def main() -> None:
        primary = await _start()
        replica = await _start("--replicaof", f"127.0.0.1 {primary.config.port}", node_id="node-b")
        try:
            await scenario(primary, replica)
        finally:
            await replica.shutdown()
            await primary.shutdown()

    asyncio.run(main())


async def _held_write(primary: Server) -> socket.socket:
    """A connection whose SET the primary ran and holds the reply of."""
    sock = await _connect(primary)
    await asyncio.get_running_loop().sock_sendall(sock, SET)
    await _until(lambda: primary.replication.oldest_held_write() is not None, "a held write")
    return sock


def test_acknowledged_offsets_by_node_id_and_holding_for_a_node_id() -> None:
    async def scenario(primary: Server, replica: Server) -> None:
        sync = primary.replication
        await _until(lambda: "node-b" in sync.sync_replicas(), "the replica's node ID")
        assert "node-b" not in str(sync.info())  # INFO keeps Redis's fields
        sync.hold_writes_for(frozenset({"node-b"}))
        writer = await _connect(primary)
        await asyncio.get_running_loop().sock_sendall(writer, SET)
        assert await _reply(writer) == b"+OK\r\n"
        # Answered: the replica had acknowledged the write's offset, which is the primary's.
        assert sync.sync_replicas() == {"node-b": sync.offset}
        assert sync.offset > 0
        assert sync.oldest_held_write() is None
        writer.close()

    _run(scenario)


def test_an_empty_set_holds_until_the_set_names_an_acknowledging_replica() -> None:
    async def scenario(primary: Server, replica: Server) -> None:
        sync = primary.replication
        await _until(lambda: "node-b" in sync.sync_replicas(), "the replica's node ID")
        sync.hold_writes_for(frozenset())
        writer = await _held_write(primary)
        await _until(lambda: sync.sync_replicas()["node-b"] == sync.offset, "the replica's ack")
        assert _nothing_to_read(writer)  # the replica holds it, but is not in the set
        held = sync.oldest_held_write()
        assert held is not None
        assert held >= 0
        sync.hold_writes_for(frozenset({"node-b"}))
        assert await _reply(writer) == b"+OK\r\n"
        assert sync.oldest_held_write() is None
        writer.close()

    _run(scenario)


def test_switching_to_none_releases_every_held_reply() -> None:
    async def scenario(primary: Server, replica: Server) -> None:
        sync = primary.replication
        sync.hold_writes_for(frozenset({"node-unknown"}))
        writers = [await _held_write(primary) for _ in range(2)]
        sync.hold_writes_for(None)
        for writer in writers:
            assert await _reply(writer) == b"+OK\r\n"
            writer.close()

    _run(scenario)


def test_becoming_a_replica_closes_the_connections_holding_writes() -> None:
    async def scenario(primary: Server, replica: Server) -> None:
        replica.replication.replicaof(None, 0)  # a primary of its own now
        replica.replication.hold_writes_for(frozenset({"node-x"}))
        writer = await _held_write(replica)
        replica.replication.replicaof("127.0.0.1", primary.config.port)
        assert await _reply(writer) == b""
        assert replica.replication.oldest_held_write() is None
        writer.close()

    _run(scenario)


def test_drop_held_writes_closes_the_connections_holding_them() -> None:
    async def scenario(primary: Server, replica: Server) -> None:
        sync = primary.replication
        sync.hold_writes_for(frozenset())
        reader = await _connect(primary)
        await asyncio.get_running_loop().sock_sendall(reader, b"*1\r\n$4\r\nPING\r\n")
        assert await _reply(reader) == b"+PONG\r\n"
        writers = [await _held_write(primary) for _ in range(2)]
        await _until(lambda: len(sync.held_writes) == 2, "two held writes")
        assert sync.drop_held_writes() == 2
        for writer in writers:
            assert await _reply(writer) == b""  # closed, the reply never sent
            writer.close()
        assert sync.oldest_held_write() is None
        assert sync.drop_held_writes() == 0
        leaving = await _held_write(primary)
        leaving.close()  # a client that leaves is forgotten
        await _until(lambda: sync.oldest_held_write() is None, "the client to be forgotten")
        # A connection without a held write stays.
        await asyncio.get_running_loop().sock_sendall(reader, b"*1\r\n$4\r\nPING\r\n")
        assert await _reply(reader) == b"+PONG\r\n"
        reader.close()

    _run(scenario)
