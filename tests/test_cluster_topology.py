"""The topology document (kvstore.cluster.topology): JSON round trips (hypothesis), the checks
that refuse a bad one, and kvstore-cluster's create and update on the in-memory store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_metadata import FakeStore
from kvstore.cluster import admin, keys
from kvstore.cluster.membership import NoTopologyError
from kvstore.cluster.metadata import Entry
from kvstore.cluster.topology import (
    Member,
    Shard,
    Topology,
    TopologyError,
    from_document,
    from_json,
    new_node_id,
    to_document,
)
from kvstore.slots import SLOTS


@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    """Shards cutting the slots at sorted points, each with a primary and maybe replicas."""
    count = draw(st.integers(1, 4))
    cuts = sorted(draw(st.sets(st.integers(1, SLOTS - 1), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, SLOTS]
    shards = []
    for index in range(count):
        replicas = draw(st.integers(0, 2))
        members = tuple(
            Member(
                new_node_id(),
                draw(st.sampled_from(["127.0.0.1", "node.example", "::1"])),
                draw(st.integers(1, 65535)),
                "primary" if n == 0 else "replica",
            )
            for n in range(replicas + 1)
        )
        shards.append(
            Shard(
                f"s{index}",
                ((bounds[index], bounds[index + 1] - 1),),
                members,
                draw(st.integers(0, 1000)),
            )
        )
    if count > 1 and draw(st.booleans()):
        slot = shards[0].slots[0][0]
        shards[0] = Shard("s0", shards[0].slots, shards[0].members, 1, {slot: "s1"})
        shards[1] = Shard("s1", shards[1].slots, shards[1].members, 2, importing={slot: "s0"})
    return Topology(tuple(shards))


@given(topologies())
def test_json_round_trip(topology: Topology) -> None:
    assert from_json(topology.to_json()) == topology
    assert from_document(json.loads(json.dumps(to_document(topology)))) == topology


def _doc(**shard: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "a",
        "slots": [[0, 10]],
        "members": [{"id": "1" * 40, "host": "h", "port": 7000}],
    }
    base.update(shard)
    return {"version": 1, "shards": [base]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": 2, "shards": []}, "unknown version 2"),
        (_doc(slots=[[10, 5]]), "10 is after 5"),
        (_doc(slots=[[0, SLOTS]]), f"slot {SLOTS} is out of range"),
        (_doc(members=[{"id": "xyz", "host": "h", "port": 1}]), "40 lower-case hexadecimal"),
        (_doc(members=[{"id": "1" * 40, "host": "h", "port": 0}]), "out of range (1-65535)"),
        (_doc(members=[{"id": "1" * 40, "host": "h", "port": 1, "role": "boss"}]), "role"),
        (_doc(migrating={"3": "nowhere"}), "moves to or from 'nowhere'"),
        (
            {"version": 1, "shards": [_doc()["shards"][0], {**_doc()["shards"][0], "id": "b"}]},  # type: ignore[index]
            "slot 0 is in shards a and b",
        ),
    ],
)
def test_bad_documents_are_refused(document: object, message: str) -> None:
    with pytest.raises(TopologyError, match=re.escape(message)):
        from_document(document)


def test_create_then_update_by_compare_and_swap(tmp_path: Path) -> None:
    store = FakeStore()
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    first.write_text(json.dumps(_doc()))
    second.write_text(json.dumps(_doc(slots=[[0, 20]])))
    with pytest.raises(NoTopologyError):
        admin.update(store, "c", str(second))
    assert admin.create(store, "c", str(first)) is None
    assert (
        admin.create(store, "c", str(first)) == "cluster 'c' exists already (/kvstore/c/topology)"
    )
    assert admin.update(store, "c", str(second)) is None
    stored = store.get(keys.topology_key("c"))
    assert stored is not None
    assert from_json(stored.value).shards[0].slots == ((0, 20),)


def test_an_update_never_overwrites_a_change_made_meanwhile(tmp_path: Path) -> None:
    class Racing(FakeStore):
        """Someone else writes the topology between this update's read and its swap."""

        def get(self, key: bytes) -> Entry | None:
            entry = super().get(key)
            if entry is not None:
                self.put(key, b'{"theirs": true}')
            return entry

    store = Racing()
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(_doc()))
    store.create(keys.topology_key("c"), b"{}")
    refusal = admin.update(store, "c", str(path))
    assert refusal is not None
    assert "changed meanwhile" in refusal
    assert store.data[keys.topology_key("c")].value == b'{"theirs": true}'
