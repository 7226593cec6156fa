"""The steps of a reshard as changes of the topology document in etcd, each one
compare-and-swap (read again and worked out afresh when someone else changed the document
meanwhile): mark slots ``migrating``/``importing`` (the record of a step), assign them to the
target (its end), find the steps left open, and add a shard. The nodes' part is
:mod:`kvstore.cluster.reshard`'s."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from kvstore.cluster import keys
from kvstore.cluster.metadata import MetadataStore
from kvstore.cluster.topology import (
    Member,
    Shard,
    Topology,
    TopologyError,
    from_json,
    is_node_id,
    new_node_id,
)

#: Tries of one compare-and-swap against concurrent changes.
CAS_TRIES = 20


class ReshardError(Exception):
    """A step cannot go on; the message says why (re-running finishes it)."""


def read_topology(store: MetadataStore, name: str) -> tuple[Topology, int]:
    entry = store.get(keys.topology_key(name))
    if entry is None:
        raise ReshardError(f"cluster {name!r} has no topology (create it first)")
    try:
        return from_json(entry.value), entry.mod_revision
    except TopologyError as exc:
        raise ReshardError(f"the topology in etcd is unusable: {exc}") from None


def change_topology(
    store: MetadataStore, name: str, change: Callable[[Topology], Topology]
) -> Topology:
    """Apply ``change`` to the topology in one compare-and-swap, read again and retried if
    someone else changed it meanwhile; the topology stored."""
    for _ in range(CAS_TRIES):
        topology, revision = read_topology(store, name)
        changed = change(topology)
        from_json(changed.to_json())  # checked as every node will check it
        if store.replace(keys.topology_key(name), changed.to_json().encode(), revision):
            return changed
    raise ReshardError(f"the topology of {name!r} keeps changing: try again")


def _with_shards(topology: Topology, shards: Sequence[Shard]) -> Topology:
    return dataclasses.replace(topology, shards=tuple(shards))


def ranges_of(slots: set[int]) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    for slot in sorted(slots):
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return tuple(ranges)


def slots_of(shard: Shard) -> set[int]:
    return {slot for first, last in shard.slots for slot in range(first, last + 1)}


def shard_of(topology: Topology, shard_id: str) -> Shard:
    shard = topology.shard(shard_id)
    if shard is None:
        raise ReshardError(f"no shard {shard_id!r} in the topology")
    return shard


def mark(source_id: str, target_id: str, slots: Sequence[int]) -> Callable[[Topology], Topology]:
    """Step 1: ``slots`` migrating from the source, importing at the target."""

    def change(topology: Topology) -> Topology:
        def marked(shard: Shard) -> Shard:
            if shard.id == source_id:
                owned = slots_of(shard)
                missing = [slot for slot in slots if slot not in owned]
                if missing:
                    raise ReshardError(f"shard {source_id} does not serve slot {missing[0]}")
                moves = {**shard.migrating, **dict.fromkeys(slots, target_id)}
                return dataclasses.replace(shard, migrating=moves)
            if shard.id == target_id:
                moves = {**shard.importing, **dict.fromkeys(slots, source_id)}
                return dataclasses.replace(shard, importing=moves)
            return shard

        return _with_shards(topology, [marked(shard) for shard in topology.shards])

    return change


def assign(source_id: str, target_id: str, slots: Sequence[int]) -> Callable[[Topology], Topology]:
    """Step 4: ``slots`` served by the target, the marks cleared."""
    moving = set(slots)

    def change(topology: Topology) -> Topology:
        def assigned(shard: Shard) -> Shard:
            if shard.id == source_id:
                return dataclasses.replace(
                    shard,
                    slots=ranges_of(slots_of(shard) - moving),
                    migrating={s: t for s, t in shard.migrating.items() if s not in moving},
                )
            if shard.id == target_id:
                return dataclasses.replace(
                    shard,
                    slots=ranges_of(slots_of(shard) | moving),
                    importing={s: f for s, f in shard.importing.items() if s not in moving},
                )
            return shard

        return _with_shards(topology, [assigned(shard) for shard in topology.shards])

    return change


def open_steps(topology: Topology) -> dict[tuple[str, str], list[int]]:
    """Steps recorded and not finished: (source, target) to their slots."""
    steps: dict[tuple[str, str], list[int]] = {}
    for shard in topology.shards:
        for slot, target_id in sorted(shard.migrating.items()):
            steps.setdefault((shard.id, target_id), []).append(slot)
    return steps


def add_shard(store: MetadataStore, name: str, shard_id: str, addresses: str) -> Topology:
    """A new shard, serving no slot yet, of the members ``HOST:PORT[@NODE_ID]`` (the first
    its primary; a node ID is made up where none is given)."""
    members = []
    for index, text in enumerate(part for part in addresses.split(",") if part):
        address, _, node_id = text.partition("@")
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ReshardError(f"{text!r}: expected HOST:PORT or HOST:PORT@NODE_ID")
        if node_id and not is_node_id(node_id):
            raise ReshardError(f"{node_id!r}: a node ID is 40 lower-case hexadecimal digits")
        role = "primary" if index == 0 else "replica"
        members.append(Member(node_id or new_node_id(), host, int(port), role))
    if not members:
        raise ReshardError("a shard needs one member at least")

    def change(topology: Topology) -> Topology:
        if topology.shard(shard_id) is not None:
            raise ReshardError(f"shard {shard_id!r} exists already")
        return _with_shards(topology, (*topology.shards, Shard(shard_id, (), tuple(members))))

    return change_topology(store, name, change)
