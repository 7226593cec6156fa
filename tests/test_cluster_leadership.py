"""The shard leader key and the write gate (kvstore.cluster.leadership), and the membership
that follows etcd into the view (kvstore.cluster.membership), on the in-memory store with a
clock the test moves: no waiting on real time. tests/test_cluster_etcd.py runs them on etcd."""

from __future__ import annotations

import asyncio

import pytest

from fake_metadata import FakeStore
from fake_replication import FakeReplication
from kvstore.cluster import keys
from kvstore.cluster.leadership import LEADER_TTL, SAFETY_MARGIN, LeaderLease
from kvstore.cluster.membership import EtcdMembership, NoTopologyError, read_state
from kvstore.cluster.topology import Member, Shard, Topology
from kvstore.cluster.view import TopologyView

A = "a" * 40
B = "b" * 40
KEY = keys.leader_key("test", "s1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_one_node_leads_and_the_epoch_is_the_create_revision() -> None:
    store, clock = FakeStore(), Clock()
    first = LeaderLease(store, KEY, A, clock=clock)
    second = LeaderLease(store, KEY, B, clock=clock)
    assert first.acquire() is True
    assert second.acquire() is False
    entry = store.get(KEY)
    assert entry is not None
    assert (entry.value, first.epoch) == (A.encode(), entry.create_revision)
    assert first.writable
    assert not second.writable
    assert len(store.leases) == 1  # the loser's lease was given back


def test_the_gate_closes_on_the_holders_clock_before_the_lease_can_expire() -> None:
    store, clock = FakeStore(), Clock()
    lease = LeaderLease(store, KEY, A, clock=clock)
    assert lease.acquire()
    store.unreachable = True  # etcd cannot be reached: renewals fail
    clock.now += 1
    assert lease.renew() is False
    clock.now += LEADER_TTL - 1 - SAFETY_MARGIN - 0.01
    assert lease.writable
    clock.now += 0.02
    assert not lease.writable  # closed ...
    store.unreachable = False
    assert store.get(KEY) is not None  # ... while etcd still holds the key for this node


def test_renewal_keeps_the_gate_open() -> None:
    store, clock = FakeStore(), Clock()
    lease = LeaderLease(store, KEY, A, clock=clock)
    assert lease.acquire()
    for _ in range(10):
        clock.now += 1
        store.advance(1)
        assert lease.renew()
        assert lease.writable


def test_after_the_lease_expires_another_node_leads_with_a_later_epoch() -> None:
    store, clock = FakeStore(), Clock()
    first = LeaderLease(store, KEY, A, clock=clock)
    assert first.acquire()
    first_epoch = first.epoch
    store.advance(LEADER_TTL + 1)  # not renewed
    assert first.renew() is False
    assert not first.writable
    second = LeaderLease(store, KEY, B, clock=clock)
    second.step()
    assert second.writable
    assert second.epoch > first_epoch


def test_release_hands_over_at_once() -> None:
    store, clock = FakeStore(), Clock()
    first = LeaderLease(store, KEY, A, clock=clock)
    assert first.acquire()
    first.release()
    assert not first.writable
    assert LeaderLease(store, KEY, B, clock=clock).acquire()


def _topology(*slots: tuple[int, int]) -> Topology:
    return Topology((Shard("s1", slots, (Member(A, "127.0.0.1", 7000),), epoch=0),))


def test_membership_follows_the_topology_and_the_epochs() -> None:
    store = FakeStore()
    with pytest.raises(NoTopologyError):
        read_state(store, "test")
    store.create(keys.topology_key("test"), _topology((0, 16383)).to_json().encode())
    state = read_state(store, "test")
    view = TopologyView(state.topology(), A)

    async def main() -> None:
        membership = EtcdMembership(store, "test", view, state)
        membership.attach(FakeReplication())
        membership.start(asyncio.get_running_loop())
        try:
            await asyncio.sleep(0)  # the updates queued by the watch run on the loop
            assert view.writable  # leads its shard
            epoch = view.shards[0].epoch
            assert epoch == store.data[KEY].create_revision
            entry = store.get(keys.topology_key("test"))
            assert entry is not None
            half = _topology((0, 8191)).to_json().encode()
            assert store.replace(keys.topology_key("test"), half, entry.mod_revision)
            await asyncio.sleep(0)
            assert view.shards[0].slots == ((0, 8191),)
            assert view.owner(9000) is None
            assert view.shards[0].epoch == epoch  # the leader's epoch kept over the document's
        finally:
            membership.stop()
        assert not view.writable
        assert KEY not in store.data  # the leadership given up

    asyncio.run(main())
