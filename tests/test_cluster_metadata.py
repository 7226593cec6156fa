"""The metadata store's contract (kvstore.cluster.metadata), each test run against real etcd
(three members on loopback, through etcd3gw and the JSON gateway) and against the in-memory
fake the unit tests use, so the fake keeps etcd's semantics."""

from __future__ import annotations

import itertools
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_for
from etcd_support import EtcdCluster, etcd_cluster
from fake_metadata import FakeStore
from kvstore.cluster.metadata import Change, Compare, MetadataError, MetadataStore

pytest.importorskip("etcd3gw", reason="the cluster extra (etcd3gw) is not installed")

from kvstore.cluster.etcd import API_PATH, EtcdStore

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


@pytest.fixture(params=["etcd", "fake"])
def store(request: pytest.FixtureRequest) -> Iterator[MetadataStore]:
    if request.param == "fake":
        yield FakeStore()
        return
    cluster: EtcdCluster = request.getfixturevalue("etcd")
    real = EtcdStore(cluster.endpoints)
    yield real
    real.close()


@pytest.fixture
def prefix() -> bytes:
    """Keys of their own for each test: the real store is shared by the module's tests."""
    return f"/test/{next(_prefixes)}/".encode()


def _gone(store: MetadataStore, key: bytes) -> None:
    """Wait for ``key``'s lease to run out: the fake is told time passed; etcd is waited on."""
    if isinstance(store, FakeStore):
        store.advance(10)
    wait_for(lambda: store.get(key) is None, 15, "the lease to expire")


def test_put_and_get_count_revisions(store: MetadataStore, prefix: bytes) -> None:
    key = prefix + b"k"
    assert store.get(key) is None
    first = store.put(key, b"1")
    second = store.put(key, b"2")
    assert second > first
    entry = store.get(key)
    assert entry is not None
    assert (entry.value, entry.create_revision, entry.mod_revision) == (b"2", first, second)


def test_create_only_if_absent(store: MetadataStore, prefix: bytes) -> None:
    key = prefix + b"leader"
    created = store.create(key, b"node-a")
    assert created is not None
    assert created.create_revision == created.mod_revision
    assert store.create(key, b"node-b") is None
    entry = store.get(key)
    assert entry is not None
    assert (entry.value, entry.create_revision) == (b"node-a", created.create_revision)


def test_replace_compares_the_mod_revision(store: MetadataStore, prefix: bytes) -> None:
    key = prefix + b"topology"
    revision = store.put(key, b"v1")
    assert store.replace(key, b"v2", revision) is True
    assert store.replace(key, b"v3", revision) is False  # someone changed it since
    entry = store.get(key)
    assert entry is not None
    assert entry.value == b"v2"


def test_commit_checks_every_condition(store: MetadataStore, prefix: bytes) -> None:
    leader, sync = prefix + b"leader", prefix + b"sync"
    epoch = store.put(leader, b"node-a")
    written = store.put(sync, b"s1")
    mine = [Compare(leader, create_revision=epoch, value=b"node-a")]
    revision = store.commit(mine, sync, b"s2")
    assert revision is not None
    assert revision > written
    entry = store.get(sync)
    assert entry is not None
    assert (entry.value, entry.mod_revision) == (b"s2", revision)
    # Another node's ID, another epoch, a stale mod revision: nothing written.
    assert (
        store.commit([Compare(leader, create_revision=epoch, value=b"node-b")], sync, b"x") is None
    )
    assert store.commit([Compare(leader, create_revision=epoch + 100)], sync, b"x") is None
    assert store.commit([Compare(sync, mod_revision=written)], sync, b"x") is None
    assert store.get(sync) == entry


def test_commit_on_an_absent_key(store: MetadataStore, prefix: bytes) -> None:
    leader, sync = prefix + b"leader", prefix + b"sync"
    # An absent key: revisions 0, and no value a condition could match.
    assert store.commit([Compare(leader, value=b"")], sync, b"x") is None
    lease = store.grant(10)
    absent = [Compare(leader, create_revision=0), Compare(sync, mod_revision=0)]
    epoch = store.commit(absent, leader, b"node-a", lease)
    assert epoch is not None
    entry = store.get(leader)
    assert entry is not None
    assert (entry.value, entry.create_revision, entry.lease) == (b"node-a", epoch, lease)
    assert store.commit(absent, leader, b"node-b", lease) is None
    store.revoke(lease)
    assert store.get(leader) is None


def test_get_prefix(store: MetadataStore, prefix: bytes) -> None:
    store.put(prefix + b"a", b"1")
    last = store.put(prefix + b"b", b"2")
    store.put(prefix[:-1] + b"x", b"outside")
    found, revision = store.get_prefix(prefix)
    assert {key: entry.value for key, entry in found.items()} == {
        prefix + b"a": b"1",
        prefix + b"b": b"2",
    }
    assert revision >= last


def test_a_revoked_lease_takes_its_keys(store: MetadataStore, prefix: bytes) -> None:
    lease = store.grant(5)
    assert store.keepalive(lease) == 5
    store.put(prefix + b"k", b"v", lease)
    store.revoke(lease)
    assert store.get(prefix + b"k") is None
    assert store.keepalive(lease) == 0


def test_a_lease_not_kept_alive_expires(store: MetadataStore, prefix: bytes) -> None:
    lease = store.grant(1)
    assert store.create(prefix + b"leader", b"me", lease) is not None
    _gone(store, prefix + b"leader")
    assert store.create(prefix + b"leader", b"other") is not None


def test_watch_a_prefix(store: MetadataStore, prefix: bytes) -> None:
    start = store.put(prefix + b"a", b"1")
    changes: queue.Queue[Change] = queue.Queue()
    cancel = store.watch_prefix(prefix, start, changes.put)
    try:
        store.delete(prefix + b"a")
        store.put(prefix[:-1] + b"x", b"outside")
        store.put(prefix + b"b", b"2")
        seen = [changes.get(timeout=10) for _ in range(3)]
    finally:
        cancel()
    assert [(c.kind, c.key, c.value) for c in seen] == [
        ("put", prefix + b"a", b"1"),
        ("delete", prefix + b"a", b""),
        ("put", prefix + b"b", b"2"),
    ]
    assert seen[0].mod_revision < seen[1].mod_revision < seen[2].mod_revision


def test_etcd3gw_finds_the_gateway_path(etcd: EtcdCluster) -> None:
    import etcd3gw

    host, port = etcd.members[0].endpoint.split(":")
    client = etcd3gw.Etcd3Client(host=host, port=int(port), api_path=None)
    assert client.api_path == API_PATH  # etcd 3.4: /v3/ (/v3beta/ before 3.4)


def test_a_member_down_is_passed_over(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as cluster:
        store = EtcdStore(cluster.endpoints)
        store.put(b"/k", b"1")
        cluster.stop_member(cluster.members[0])
        assert store.put(b"/k", b"2") > 0  # the two left are a majority
        entry = store.get(b"/k")
        assert entry is not None
        assert entry.value == b"2"
        for member in cluster.members[1:]:
            cluster.stop_member(member)
        with pytest.raises(MetadataError, match="etcd cannot be reached"):
            store.get(b"/k")
        store.close()
