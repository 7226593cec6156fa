"""The failover's decisions (kvstore.cluster.failover.ShardKeeper), one round at a time, on
the in-memory metadata store and a stand-in for replication, with a clock the test moves:
who may take the leader key, when a replica enters and leaves the sync key, the order of the
sync key and the holding of writes, fencing, the graceful switch. Processes on loopback with
real etcd: tests/test_cluster_failover.py."""

from __future__ import annotations

import json

from fake_metadata import FakeStore
from fake_replication import FakeReplication
from kvstore.cluster import keys
from kvstore.cluster.failover import KEEP_UP, SYNC_TIMEOUT, ShardKeeper
from kvstore.cluster.leadership import LEADER_TTL
from kvstore.cluster.membership import ClusterState, EtcdMembership, read_state
from kvstore.cluster.metadata import Cancel, Compare
from kvstore.cluster.sync import SyncSet, leader_conditions, parse
from kvstore.cluster.topology import Member, Shard, Topology
from kvstore.cluster.view import TopologyView

A, B, C = "a" * 40, "b" * 40, "c" * 40
NAME = "test"
SHARD = Shard(
    "s1",
    ((0, 16383),),
    (Member(A, "127.0.0.1", 7000), Member(B, "127.0.0.1", 7001, "replica")),
)
LEADER, SYNC = keys.leader_key(NAME, "s1"), keys.sync_key(NAME, "s1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ALONE = SyncSet(A, (A,))


def _cluster(sync: SyncSet | None = ALONE) -> FakeStore:
    store = FakeStore()
    store.create(keys.topology_key(NAME), Topology((SHARD,)).to_json().encode())
    if sync is not None:
        store.put(SYNC, sync.to_json())
    return store


def _keeper(store: FakeStore, node: str, clock: Clock, want: int = 1) -> ShardKeeper:
    return ShardKeeper(store, NAME, node, FakeReplication(), sync_replicas=want, clock=clock)


def _replication(keeper: ShardKeeper) -> FakeReplication:
    assert isinstance(keeper.replication, FakeReplication)
    return keeper.replication


def _step(keeper: ShardKeeper, store: FakeStore) -> None:
    """One round, with what the watch would have delivered (etcd as it was last reached)."""
    unreachable, store.unreachable = store.unreachable, False
    state = read_state(store, NAME)
    store.unreachable = unreachable
    keeper.step(SHARD, state.leader("s1"), state.requests.get("s1"))


def _sync(store: FakeStore) -> SyncSet | None:
    entry = store.get(SYNC)
    return None if entry is None else parse(entry.value)


def test_only_a_sync_member_takes_the_leader_key() -> None:
    store, clock = _cluster(ALONE), Clock()
    b = _keeper(store, B, clock)
    _step(b, store)
    assert LEADER not in store.data
    assert not b.writable
    a = _keeper(store, A, clock)
    _step(a, store)
    assert store.data[LEADER].value == A.encode()
    assert a.writable
    _step(b, store)
    assert _replication(b).following == ("127.0.0.1", 7000)


def test_without_a_sync_key_the_documents_primary_leads() -> None:
    store, clock = _cluster(None), Clock()
    b, a = _keeper(store, B, clock), _keeper(store, A, clock)
    _step(b, store)
    assert LEADER not in store.data
    _step(a, store)
    assert a.writable
    assert _sync(store) == SyncSet(A, (A,))


def test_a_replica_enters_the_sync_key_once_writes_are_held_for_it() -> None:
    store, clock = _cluster(), Clock()
    a = _keeper(store, A, clock)
    replication = _replication(a)
    replication.offset = 100
    _step(a, store)
    clock.now += KEEP_UP
    replication.offset, replication.acked = 150, {B: 40}
    _step(a, store)  # B acknowledges, but behind the offset of KEEP_UP seconds ago
    assert replication.held_for is None
    clock.now += KEEP_UP
    replication.offset, replication.acked = 200, {B: 150}
    _step(a, store)  # keeping up: writes are held for it from offset 200 on
    assert replication.held_for == frozenset({B})
    replication.acked = {B: 190}
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A,))  # not in etcd before it holds what was answered
    replication.acked = {B: 200}
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A, B))


def _with_sync_replica(store: FakeStore, clock: Clock) -> ShardKeeper:
    a = _keeper(store, A, clock)
    replication = _replication(a)
    _step(a, store)
    replication.acked = {B: 0}
    _step(a, store)
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A, B))
    return a


def test_a_silent_sync_replica_leaves_etcd_before_writes_go_on() -> None:
    store, clock = _cluster(), Clock()
    a = _with_sync_replica(store, clock)
    replication = _replication(a)
    replication.offset, replication.waited, replication.acked = 500, SYNC_TIMEOUT / 2, {}
    _step(a, store)
    assert replication.held_for == frozenset({B})  # waiting, not yet too long
    store.unreachable = True
    replication.waited = SYNC_TIMEOUT + 0.1
    _step(a, store)  # etcd cannot be told: writes stay held
    assert replication.held_for == frozenset({B})
    store.unreachable = False
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A,))
    assert replication.held_for is None


def test_a_sync_replica_that_stops_acknowledging_leaves_even_with_nothing_held() -> None:
    # Clients that give up on their held writes end the holds: progress is what counts.
    store, clock = _cluster(), Clock()
    a = _with_sync_replica(store, clock)
    replication = _replication(a)
    replication.offset = 100  # B acknowledged 0: from now on it makes no progress
    _step(a, store)
    clock.now += SYNC_TIMEOUT / 2
    replication.offset, replication.acked = 150, {B: 100}  # it caught up with the mark
    _step(a, store)
    clock.now += SYNC_TIMEOUT / 2 + 0.1
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A, B))  # progress within the timeout: still in
    clock.now += SYNC_TIMEOUT
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A,))
    assert replication.held_for is None


def test_the_sync_replica_takes_over_and_the_old_leader_follows() -> None:
    store, clock = _cluster(), Clock()
    a = _with_sync_replica(store, clock)
    b = _keeper(store, B, clock)
    _step(b, store)
    assert _replication(b).following == ("127.0.0.1", 7000)
    store.advance(LEADER_TTL + 1)  # a stopped renewing: its lease expired
    clock.now += LEADER_TTL + 1
    assert not a.writable  # its own clock closed the gate
    _step(b, store)
    assert store.data[LEADER].value == B.encode()
    assert _replication(b).promotions == 1
    assert b.writable
    assert _sync(store) == SyncSet(B, (B,))
    _step(a, store)  # a learns it lost the key: held writes dropped, it follows b
    assert _replication(a).dropped >= 1
    assert _replication(a).following == ("127.0.0.1", 7001)
    assert not a.writable


def test_a_node_that_lost_its_data_waits_to_be_named_again() -> None:
    store, clock = _cluster(SyncSet(A, (A, B))), Clock()
    started = store.revision
    b = ShardKeeper(store, NAME, B, FakeReplication(), fresh_since=started, clock=clock)
    _step(b, store)  # named before it started without persistence: A may hold more
    assert LEADER not in store.data
    store.put(SYNC, SyncSet(A, (A, B)).to_json())  # named again since (a leader saw it catch up)
    _step(b, store)
    assert store.data[LEADER].value == B.encode()


def test_a_replica_outside_the_sync_key_never_takes_over() -> None:
    store, clock = _cluster(), Clock()
    a = _keeper(store, A, clock)
    _step(a, store)
    store.advance(LEADER_TTL + 1)
    b = _keeper(store, B, clock)
    _step(b, store)
    assert LEADER not in store.data
    assert _replication(b).promotions == 0


def test_a_lapsed_lease_drops_held_writes_once() -> None:
    store, clock = _cluster(), Clock()
    a = _with_sync_replica(store, clock)
    store.unreachable = True
    clock.now += LEADER_TTL
    _step(a, store)
    _step(a, store)
    assert not a.writable
    assert _replication(a).dropped == 1


def test_the_sync_key_changes_only_under_the_leaders_epoch() -> None:
    store, clock = _cluster(), Clock()
    a = _keeper(store, A, clock)
    _step(a, store)
    lease = a.lease
    assert lease is not None
    stale = leader_conditions(LEADER, lease.epoch - 1, A)
    assert store.commit(stale, SYNC, SyncSet(A, (A, B)).to_json()) is None
    other = leader_conditions(LEADER, lease.epoch, B)
    assert store.commit(other, SYNC, SyncSet(B, (B,)).to_json()) is None
    assert store.commit([Compare(LEADER, create_revision=0)], SYNC, b"x") is None
    assert _sync(store) == SyncSet(A, (A,))


def test_without_sync_replicas_writes_never_wait() -> None:
    store, clock = _cluster(), Clock()
    a = _keeper(store, A, clock, want=0)
    replication = _replication(a)
    _step(a, store)
    replication.acked = {B: 0}
    _step(a, store)
    assert _sync(store) == SyncSet(A, (A, B))
    assert replication.held_for is None
    replication.offset = 100
    _step(a, store)
    clock.now += KEEP_UP
    _step(a, store)  # B stays behind: out of the sync key
    assert _sync(store) == SyncSet(A, (A,))


def test_a_graceful_switch_hands_the_key_to_a_caught_up_replica() -> None:
    store, clock = _cluster(), Clock()
    a = _with_sync_replica(store, clock)
    b = _keeper(store, B, clock)
    _step(b, store)
    replication = _replication(a)
    replication.offset, replication.acked = 300, {B: 300}
    store.put(keys.failover_key(NAME, "s1"), json.dumps({"to": B}).encode())
    _step(a, store)
    assert LEADER not in store.data  # released at once
    assert keys.failover_key(NAME, "s1") not in store.data
    assert not a.writable
    _step(a, store)  # standing down: a leaves the key to b
    assert LEADER not in store.data
    _step(b, store)
    assert store.data[LEADER].value == B.encode()
    _step(a, store)
    assert _replication(a).following == ("127.0.0.1", 7001)


def test_the_view_names_the_leader_as_the_shards_primary() -> None:
    store, clock = _cluster(SyncSet(B, (B,))), Clock()
    assert _primary(read_state(store, NAME)) == A  # no leader key yet: the document's role
    b = _keeper(store, B, clock)
    _step(b, store)
    state = read_state(store, NAME)
    assert _primary(state) == B
    assert state.topology().shards[0].epoch == store.data[LEADER].create_revision
    # Followed by a watch, a lapsed key leaves the last leader shown until another takes it.
    store.advance(LEADER_TTL + 1)
    gone = store.history[-1]
    assert (gone.kind, gone.key) == ("delete", LEADER)
    state.record("s1", "leader", gone)
    assert state.leader("s1") is None
    assert _primary(state) == B


def _primary(state: ClusterState) -> str | None:
    primary = state.topology().shards[0].primary
    return None if primary is None else primary.id


class _SilentWatchStore(FakeStore):
    """A store whose watch stream went quiet without breaking: it delivers nothing."""

    def watch_prefix(self, prefix: bytes, start_revision: int, callback: object) -> Cancel:
        return lambda: None


def test_a_silent_watch_does_not_hide_a_free_leader_key() -> None:
    store = _SilentWatchStore()
    store.create(keys.topology_key(NAME), Topology((SHARD,)).to_json().encode())
    store.put(SYNC, SyncSet(A, (A, B)).to_json())
    lease = store.grant(LEADER_TTL)
    store.create(LEADER, A.encode(), lease)
    state = read_state(store, NAME)
    view = TopologyView(state.topology(), B)
    membership = EtcdMembership(store, NAME, view, state)
    assert state.leader("s1") == A
    store.advance(LEADER_TTL + 1)  # A's lease runs out; the watch says nothing
    assert store.get(LEADER) is None
    membership._check_leader(SHARD)
    assert state.leader("s1") is None  # B's keeper may now take the key
    again = store.grant(LEADER_TTL)
    store.create(LEADER, B.encode(), again)
    membership._check_leader(SHARD)
    assert state.leader("s1") is None  # read at most once a second
    membership._next_leader_check = 0.0
    membership._check_leader(SHARD)
    assert state.leader("s1") == B
