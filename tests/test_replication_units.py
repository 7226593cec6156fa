"""The replication stream's pieces on their own: the backlog's window and offsets, the reader
that cuts received bytes into checked batches and link commands (hypothesis), the IDs'
history check."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvstore.commands import ServerState, Session
from kvstore.keyspace import Databases
from kvstore.persistence.records import encode_del, encode_select, encode_set, frame
from kvstore.protocol.resp import encode_request
from kvstore.replication.backlog import Backlog
from kvstore.replication.ids import NO_ID, ReplicationIds
from kvstore.replication.primary import Primary
from kvstore.replication.stream import Batch, LinkCommand, StreamDamagedError, StreamReader

chunks = st.lists(st.binary(min_size=1, max_size=40), max_size=30)


@given(size=st.integers(min_value=1, max_value=100), pieces=chunks)
def test_the_backlog_keeps_the_last_bytes_with_their_offsets(
    size: int, pieces: list[bytes]
) -> None:
    backlog = Backlog(size, offset=7)
    stream = b"".join(pieces)
    for piece in pieces:
        backlog.feed(piece)
    assert backlog.offset == 7 + len(stream)
    assert backlog.histlen == min(size, len(stream))
    assert backlog.first_byte_offset == backlog.offset - backlog.histlen + 1
    for start in range(backlog.first_byte_offset, backlog.offset + 2):
        assert backlog.since(start) == stream[start - 8 :]
    assert backlog.since(backlog.first_byte_offset - 1) is None or backlog.histlen == len(stream)
    assert backlog.since(backlog.offset + 2) is None


def test_a_fresh_backlog_continues_only_at_its_end() -> None:
    backlog = Backlog(100, offset=50)
    assert backlog.since(51) == b""
    assert backlog.since(50) is None
    backlog.reset(10)
    assert (backlog.offset, backlog.histlen, backlog.since(11)) == (10, 0, b"")


records = st.one_of(
    st.tuples(st.binary(max_size=10), st.binary(max_size=300)).map(
        lambda kv: encode_set(kv[0], kv[1], None)
    ),
    st.binary(max_size=10).map(encode_del),
    st.integers(min_value=0, max_value=15).map(encode_select),
)
items = st.one_of(
    st.lists(records, min_size=1, max_size=5).map(lambda batch: ("batch", b"".join(batch))),
    st.sampled_from(
        [
            ("link", encode_request([b"REPLCONF", b"GETACK", b"*"])),
            ("link", encode_request([b"PING"])),
            ("keepalive", b"\n"),
        ]
    ),
)


@given(sent=st.lists(items, max_size=12), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_the_reader_gives_back_what_was_sent_however_it_is_cut(
    sent: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    wire = b"".join(frame(data) if kind == "batch" else data for kind, data in sent)
    points = sorted({cut % (len(wire) + 1) for cut in cuts} | {0, len(wire)})
    reader = StreamReader()
    got: list[Batch | LinkCommand] = []
    for start, end in itertools.pairwise(points):
        got += reader.feed(wire[start:end])
    assert reader.pending == 0
    expected = [
        (kind, frame(data) if kind == "batch" else data)
        for kind, data in sent
        if kind != "keepalive"
    ]
    assert len(got) == len(expected)
    for item, (kind, data) in zip(got, expected, strict=True):
        if kind == "batch":
            assert isinstance(item, Batch)
            assert item.data == data
        else:
            assert isinstance(item, LinkCommand)
            assert encode_request(item.words) == data


def test_a_batch_that_fails_its_checksum_is_refused() -> None:
    data = bytearray(frame(encode_set(b"k", b"value", None)))
    data[-5] ^= 1
    with pytest.raises(StreamDamagedError, match="checksum"):
        StreamReader().feed(bytes(data))


def test_a_promotion_keeps_the_old_history_up_to_where_it_stopped() -> None:
    ids = ReplicationIds(replid="a" * 40)
    assert ids.knows("a" * 40, 500)
    assert not ids.knows("b" * 40, 1)
    ids.shift("c" * 40, 100)
    assert (ids.replid, ids.replid2, ids.second_offset) == ("c" * 40, "a" * 40, 101)
    assert ids.knows("a" * 40, 101)
    assert not ids.knows("a" * 40, 102)  # past the old history: those bytes differ
    assert ids.knows("c" * 40, 5000)
    assert ReplicationIds().replid2 == NO_ID


class _Peer:
    """A replica's connection as the primary sees it (kvstore.commands.ports.ClientPeer)."""

    fd = -1

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.killed = False

    def idle_seconds(self) -> int:
        return 0

    def buffer_sizes(self) -> tuple[int, int]:
        return 0, 0

    def kill(self) -> None:
        self.killed = True

    def push(self, data: bytes) -> None:
        self.sent.append(data)


def test_an_acknowledgement_future_waits_for_the_replicas_named() -> None:
    loop = asyncio.new_event_loop()
    try:
        ids = ReplicationIds()
        primary = Primary(
            ids, Databases(1), sync_dir="/nonexistent", flush_log=lambda: None,
            stream_db=lambda: 0, loop=loop,
        )  # fmt: skip
        primary.backlog = Backlog(1000)
        primary.feed(b"x" * 10)
        state = ServerState(dbs=Databases(1))
        sessions = []
        for port in (7001, 7002):
            session = Session(state, addr="127.0.0.1:50000")
            session.peer = _Peer()
            primary.psync(session, port, ids.replid, 11)  # nothing missing: +CONTINUE
            sessions.append(session)
        assert [link.state for link in primary.links] == ["online", "online"]
        primary.feed(b"y" * 5)
        future = primary.acknowledged(15, 1, among=frozenset({"127.0.0.1:7001"}))
        loop.run_until_complete(asyncio.sleep(0))  # the GETACK goes out
        assert all(b"GETACK" in b"".join(s.peer.sent) for s in sessions)  # type: ignore[union-attr]
        primary.ack(sessions[1], 15)
        assert not future.done()  # not the replica asked for
        primary.ack(sessions[0], 14)
        assert not future.done()  # not far enough
        primary.ack(sessions[0], 15)
        assert future.done()
        assert future.result() == 1
        assert primary.acknowledged(15, 2).result() == 2  # both hold it already
    finally:
        loop.close()
