"""Unit tests beside the end-to-end ones (test_cluster_reshard.py, test_migrate.py): which
requests MIGRATE's key hold keeps waiting, and the topology changes of a reshard's steps on
the in-memory metadata store (the same interface as etcd's, checked against it by
test_cluster_metadata.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_metadata import FakeStore
from kvstore.cluster import keys, reshard, steps
from kvstore.cluster.topology import Member, Shard, Topology, from_json
from kvstore.commands.context import ServerState, Session
from kvstore.commands.pause import holds
from kvstore.commands.pause_state import ClientPause
from kvstore.slots import SLOTS


@pytest.fixture
def session() -> Session:
    return Session(ServerState())


def test_held_keys_hold_their_writes_only(session: Session) -> None:
    pause = ClientPause()
    pause.hold_keys([b"moving"])
    assert pause.holding
    assert holds(pause, session, [b"SET", b"moving", b"1"])
    assert holds(pause, session, [b"MSET", b"other", b"1", b"moving", b"2"])
    assert holds(pause, session, [b"FLUSHALL"])  # a write that names no key may write any
    assert not holds(pause, session, [b"GET", b"moving"])
    assert not holds(pause, session, [b"SET", b"other", b"1"])
    session.queued = [[b"GET", b"moving"], [b"SET", b"other", b"1"]]
    assert not holds(pause, session, [b"EXEC"])
    session.queued.append([b"DEL", b"moving"])
    assert holds(pause, session, [b"EXEC"])
    pause.release_keys([b"moving"])
    assert not pause.holding
    assert not holds(pause, session, [b"SET", b"moving", b"1"])


def test_a_key_held_twice_is_held_until_both_release_it(session: Session) -> None:
    pause = ClientPause()
    pause.hold_keys([b"k"])
    pause.hold_keys([b"k", b"j"])
    pause.release_keys([b"k", b"j"])
    assert holds(pause, session, [b"SET", b"k", b"1"])
    assert not holds(pause, session, [b"SET", b"j", b"1"])
    pause.release_keys([b"k"])
    assert not pause.holding


def test_a_client_pause_ends_without_releasing_held_keys(session: Session) -> None:
    pause = ClientPause()
    pause.hold_keys([b"k"])
    pause.pause("write", pause.now() + 60_000)
    assert holds(pause, session, [b"SET", b"j", b"1"])
    pause.unpause()
    assert pause.holding
    assert holds(pause, session, [b"SET", b"k", b"1"])
    assert not holds(pause, session, [b"SET", b"j", b"1"])


def _shard(topology: Topology, shard_id: str) -> Shard:
    found = topology.shard(shard_id)
    assert found is not None
    return found


def _two_shards() -> Topology:
    a = Member("1" * 40, "127.0.0.1", 7000)
    b = Member("2" * 40, "127.0.0.1", 7001)
    return Topology((Shard("a", ((0, 8191),), (a,), 1), Shard("b", ((8192, SLOTS - 1),), (b,), 2)))


def _store(topology: Topology) -> FakeStore:
    store = FakeStore()
    assert store.create(keys.topology_key("t"), topology.to_json().encode()) is not None
    return store


def test_a_step_is_marked_then_assigned() -> None:
    store = _store(_two_shards())
    marked = steps.change_topology(store, "t", steps.mark("a", "b", [0, 1, 5]))
    assert dict(_shard(marked, "a").migrating) == {0: "b", 1: "b", 5: "b"}
    assert dict(_shard(marked, "b").importing) == {0: "a", 1: "a", 5: "a"}
    assert steps.open_steps(marked) == {("a", "b"): [0, 1, 5]}
    done = steps.change_topology(store, "t", steps.assign("a", "b", [0, 1, 5]))
    assert _shard(done, "a").slots == ((2, 4), (6, 8191))
    assert _shard(done, "b").slots == ((0, 1), (5, 5), (8192, SLOTS - 1))
    assert steps.open_steps(done) == {}
    stored = store.get(keys.topology_key("t"))
    assert stored is not None
    assert from_json(stored.value) == done


def test_a_slot_the_source_does_not_serve_is_refused() -> None:
    store = _store(_two_shards())
    with pytest.raises(steps.ReshardError, match="does not serve slot 9000"):
        steps.change_topology(store, "t", steps.mark("a", "b", [9000]))


def test_a_lost_compare_and_swap_is_worked_out_again() -> None:
    store = _store(_two_shards())
    calls = []

    def change(topology: Topology) -> Topology:
        calls.append(topology)
        if len(calls) == 1:  # someone else changes the topology meanwhile
            other = steps.add_shard(store, "t", "c", "127.0.0.1:7002")
            assert _shard(other, "c").members
        return steps.mark("a", "b", [7])(topology)

    result = steps.change_topology(store, "t", change)
    assert len(calls) == 2
    assert _shard(result, "c").members  # the other change is kept
    assert dict(_shard(result, "a").migrating) == {7: "b"}


def test_add_shard_checks_its_members() -> None:
    store = _store(_two_shards())
    node = "3" * 40
    added = steps.add_shard(store, "t", "c", f"127.0.0.1:7002@{node},127.0.0.1:7003")
    members = _shard(added, "c").members
    assert (members[0].id, members[0].port, members[0].role) == (node, 7002, "primary")
    assert members[1].role == "replica"
    assert len(members[1].id) == 40
    for bad in ("nowhere", "127.0.0.1:x", "127.0.0.1:7004@abc", ""):
        with pytest.raises(steps.ReshardError):
            steps.add_shard(store, "t", "d", bad)
    with pytest.raises(steps.ReshardError, match="exists already"):
        steps.add_shard(store, "t", "c", "127.0.0.1:7005")


@given(st.sets(st.integers(0, SLOTS - 1), max_size=300))
def test_ranges_cover_exactly_the_slots(slots: set[int]) -> None:
    ranges = steps.ranges_of(slots)
    assert {s for first, last in ranges for s in range(first, last + 1)} == slots
    assert all(ranges[i][1] + 1 < ranges[i + 1][0] for i in range(len(ranges) - 1))


def test_a_reshard_that_cannot_be_done_is_refused_before_any_step() -> None:
    store = _store(_two_shards())
    mover = reshard.Mover(store, "t", report=lambda line: None)
    with pytest.raises(steps.ReshardError, match="same shard"):
        mover.reshard("a", "a", 10, 128)
    with pytest.raises(steps.ReshardError, match="serves 8192 slots, not 9000"):
        mover.reshard("a", "b", 9000, 128)
    with pytest.raises(steps.ReshardError, match="no shard 'z'"):
        mover.reshard("a", "z", 10, 128)
    stored = store.get(keys.topology_key("t"))
    assert stored is not None
    assert from_json(stored.value) == _two_shards()  # nothing was marked


@pytest.mark.parametrize(
    ("text", "wanted"), [("10", 10), ("0-99", (0, 99)), ("16383-16383", (16383, 16383))]
)
def test_slots_are_a_count_or_a_range(text: str, wanted: int | tuple[int, int]) -> None:
    assert reshard._wanted(text) == wanted


@pytest.mark.parametrize("text", ["", "-1", "5-3", "0-16384", "ten", "1-2-3"])
def test_bad_slots_are_refused(text: str) -> None:
    with pytest.raises(steps.ReshardError, match="expected a count or FIRST-LAST"):
        reshard._wanted(text)
