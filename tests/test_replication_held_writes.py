"""HeldWrites, the holding logic of synchronous acknowledgement, over a real Primary whose
replicas are sessions without sockets: replicas matched by ``ip:port`` or node ID (a table),
and for random programs of writes, acknowledgements and set changes (hypothesis) a reply is
released exactly when a named replica holds its write, once, and never before."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.commands import ServerState, Session
from kvstore.keyspace import Databases
from kvstore.replication.backlog import Backlog
from kvstore.replication.held_writes import HeldWrites
from kvstore.replication.ids import ReplicationIds
from kvstore.replication.primary import Primary

#: The replicas attached in every test: (listening port, announced node ID).
REPLICAS = ((7001, "node-a"), (7002, ""), (7003, "node-c"))
NAMES = ("127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003", "node-a", "node-c", "node-x")


class _Peer:
    """A connection as the primary sees it (kvstore.commands.ports.ClientPeer)."""

    fd = -1

    def __init__(self) -> None:
        self.killed = False

    def idle_seconds(self) -> int:
        return 0

    def buffer_sizes(self) -> tuple[int, int]:
        return 0, 0

    def kill(self) -> None:
        self.killed = True

    def push(self, data: bytes) -> None:
        pass


@dataclass(eq=False)
class _Client:
    """A client connection keeping replies (kvstore.replication.held_writes.AckWaiter)."""

    releases: int = 0
    killed: bool = False

    def release_acked(self) -> None:
        self.releases += 1

    def kill(self) -> None:
        self.killed = True


class _Node:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ids = ReplicationIds()
        self.primary = Primary(
            ids, Databases(1), sync_dir="/nonexistent", flush_log=lambda: None,
            stream_db=lambda: 0, loop=self.loop,
        )  # fmt: skip
        self.primary.backlog = Backlog(1 << 20)
        state = ServerState(dbs=Databases(1))
        self.sessions = []
        for port, node_id in REPLICAS:
            session = Session(state, addr="127.0.0.1:50000")
            session.peer = _Peer()
            self.primary.psync(session, port, ids.replid, 1, node_id)  # +CONTINUE
            self.sessions.append(session)
        self.held = HeldWrites(self.primary, self.loop)

    def turn(self) -> None:
        """Run what the loop has ready (arming, then the futures' callbacks)."""
        for _ in range(4):
            self.loop.run_until_complete(asyncio.sleep(0))

    def close(self) -> None:
        self.loop.close()


@pytest.mark.parametrize(
    ("among", "acked_by", "released"),
    [
        ({"127.0.0.1:7001"}, 0, True),
        ({"node-a"}, 0, True),  # the same replica by its node ID
        ({"127.0.0.1:7002"}, 1, True),
        ({"node-a"}, 1, False),  # another replica acknowledged
        ({""}, 1, False),  # no node ID announced matches nothing
        ({"node-c", "127.0.0.1:9"}, 2, True),
        (set(), 0, False),  # an empty set holds everything
    ],
)
def test_a_held_write_is_released_by_a_replica_named_in_the_set(
    among: set[str], acked_by: int, released: bool
) -> None:
    node = _Node()
    try:
        node.held.set_among(frozenset(among))
        client = _Client()
        node.held.hold(client)
        node.primary.feed(b"SET k v")  # the log writes the records, before the arming
        node.turn()
        node.primary.ack(node.sessions[acked_by], node.primary.offset)
        node.turn()
        assert client.releases == int(released)
        assert (node.held.oldest() is None) is released
    finally:
        node.close()


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 2)),
        st.tuples(st.just("ack"), st.integers(0, 2), st.integers(0, 40)),
        st.tuples(st.just("among"), st.none() | st.frozensets(st.sampled_from(NAMES))),
        st.tuples(st.just("drop"), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(steps=_steps)
def test_replies_are_released_exactly_when_a_named_replica_holds_the_write(
    steps: list[tuple[object, ...]],
) -> None:
    node = _Node()
    try:
        primary, held = node.primary, node.held
        clients = [_Client() for _ in range(3)]
        targets: dict[int, int] = {}  # client -> the offset it waits for
        among: frozenset[str] | None = None
        acks = [0, 0, 0]

        def holds(target: int) -> bool:
            if among is None:
                return True
            return any(
                acks[index] >= target
                and (f"127.0.0.1:{port}" in among or (node_id and node_id in among))
                for index, (port, node_id) in enumerate(REPLICAS)
            )

        for step in steps:
            before = [client.releases for client in clients]
            if step[0] == "write" and among is not None:
                index = int(str(step[1]))
                held.hold(clients[index])
                primary.feed(b"x" * 7)
                targets[index] = primary.offset
            elif step[0] == "ack":
                index, back = int(str(step[1])), int(str(step[2]))
                offset = max(0, primary.offset - back)
                primary.ack(node.sessions[index], offset)
                acks[index] = max(acks[index], offset)
            elif step[0] == "among":
                among = step[1]  # type: ignore[assignment]
                held.set_among(among)
            elif step[0] == "drop":
                assert held.drop_all() == len(targets)
                for index in targets:
                    assert clients[index].killed
                    clients[index].killed = False
                targets.clear()
            node.turn()
            for index, client in enumerate(clients):
                released = client.releases - before[index]
                assert released <= 1
                if index in targets and holds(targets[index]):
                    assert released == 1, (index, targets[index], acks, among)
                    del targets[index]
                else:
                    assert released == 0, (index, targets.get(index), acks, among)
            assert len(held) == len(targets)
    finally:
        node.close()
