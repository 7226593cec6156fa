"""The topology document: which shards exist, the slot ranges each serves and its members.

Defined once, serialized as JSON: the same document is a static topology file
(``--cluster-topology-file``) and the value of the topology key in etcd. Schema (version 1)::

    {"version": 1,
     "shards": [{"id": "shard-a", "epoch": 1,
                 "slots": [[0, 8191]],
                 "members": [{"id": "<40 hex digits>", "host": "127.0.0.1", "port": 7000,
                              "role": "primary"}],
                 "migrating": {"100": "shard-b"}, "importing": {}}]}

``slots`` are inclusive ranges; ``migrating``/``importing`` map a slot (as text: JSON keys are
strings) to the other shard's ID while it moves; both may be left out. Every problem is a
:class:`TopologyError` naming what is wrong.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kvstore.slots import SLOTS

VERSION = 1
ROLES = ("primary", "replica")


class TopologyError(ValueError):
    """A topology document that cannot be used; the message says why."""


def new_node_id() -> str:
    """A fresh node ID: 40 random hexadecimal digits, as Redis Cluster's."""
    return secrets.token_hex(20)


def is_node_id(text: str) -> bool:
    return len(text) == 40 and all(char in "0123456789abcdef" for char in text)


@dataclass(frozen=True)
class Member:
    id: str
    host: str
    port: int
    role: str = "primary"


@dataclass(frozen=True)
class Shard:
    id: str
    slots: tuple[tuple[int, int], ...]
    members: tuple[Member, ...]
    epoch: int = 0
    migrating: Mapping[int, str] = field(default_factory=dict)
    importing: Mapping[int, str] = field(default_factory=dict)

    @property
    def primary(self) -> Member | None:
        for member in self.members:
            if member.role == "primary":
                return member
        return None


@dataclass(frozen=True)
class Topology:
    shards: tuple[Shard, ...]
    version: int = VERSION

    def shard(self, shard_id: str) -> Shard | None:
        for shard in self.shards:
            if shard.id == shard_id:
                return shard
        return None

    def to_json(self) -> str:
        return json.dumps(to_document(self), indent=2, sort_keys=True)


def single_node(node_id: str, host: str, port: int) -> Topology:
    """One shard of one primary serving every slot: cluster mode on a lone server."""
    member = Member(node_id, host, port, "primary")
    return Topology((Shard("shard-0", ((0, SLOTS - 1),), (member,), epoch=1),))


def to_document(topology: Topology) -> dict[str, Any]:
    return {
        "version": topology.version,
        "shards": [
            {
                "id": shard.id,
                "epoch": shard.epoch,
                "slots": [list(pair) for pair in shard.slots],
                "members": [
                    {"id": m.id, "host": m.host, "port": m.port, "role": m.role}
                    for m in shard.members
                ],
                "migrating": {str(slot): to for slot, to in sorted(shard.migrating.items())},
                "importing": {str(slot): fr for slot, fr in sorted(shard.importing.items())},
            }
            for shard in topology.shards
        ],
    }


def from_json(text: str | bytes) -> Topology:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TopologyError(f"not JSON: {exc}") from None
    return from_document(document)


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TopologyError(f"{what}: expected an integer, got {value!r}")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TopologyError(f"{what}: expected a non-empty string, got {value!r}")
    return value


def _slot(value: object, what: str) -> int:
    slot = _int(int(value) if isinstance(value, str) and value.isdigit() else value, what)
    if not 0 <= slot < SLOTS:
        raise TopologyError(f"{what}: slot {slot} is out of range (0-{SLOTS - 1})")
    return slot


def _list(value: object, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise TopologyError(f"{what}: expected a list, got {value!r}")
    return value


def _moves(value: object, what: str) -> dict[int, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TopologyError(f"{what}: expected an object of slot to shard ID")
    return {_slot(k, f"{what} {k!r}"): _text(v, f"{what} {k!r}") for k, v in value.items()}


def _member(raw: object, where: str) -> Member:
    if not isinstance(raw, dict):
        raise TopologyError(f"{where}: expected an object")
    node_id = _text(raw.get("id"), f"{where} id")
    if not is_node_id(node_id):
        raise TopologyError(f"{where} id: expected 40 lower-case hexadecimal digits")
    port = _int(raw.get("port"), f"{where} port")
    if not 0 < port <= 65535:
        raise TopologyError(f"{where} port: {port} is out of range (1-65535)")
    role = raw.get("role", "primary")
    if role not in ROLES:
        raise TopologyError(f"{where} role: expected primary or replica, got {role!r}")
    return Member(node_id, _text(raw.get("host"), f"{where} host"), port, role)


def _shard(raw: object, where: str) -> Shard:
    if not isinstance(raw, dict):
        raise TopologyError(f"{where}: expected an object")
    shard_id = _text(raw.get("id"), f"{where} id")
    ranges = []
    for index, item in enumerate(_list(raw.get("slots", []), f"{where} slots")):
        pair = _list(item, f"{where} slots[{index}]")
        if len(pair) != 2:
            raise TopologyError(f"{where} slots[{index}]: expected [first, last]")
        first, last = (_slot(value, f"{where} slots[{index}]") for value in pair)
        if first > last:
            raise TopologyError(f"{where} slots[{index}]: {first} is after {last}")
        ranges.append((first, last))
    members = tuple(
        _member(item, f"{where} members[{index}]")
        for index, item in enumerate(_list(raw.get("members"), f"{where} members"))
    )
    if sum(member.role == "primary" for member in members) > 1:
        raise TopologyError(f"{where}: more than one primary")
    return Shard(
        shard_id,
        tuple(sorted(ranges)),
        members,
        _int(raw.get("epoch", 0), f"{where} epoch"),
        _moves(raw.get("migrating"), f"{where} migrating"),
        _moves(raw.get("importing"), f"{where} importing"),
    )


def from_document(document: object) -> Topology:
    """The topology a parsed JSON document describes, checked: known version, every slot
    served by one shard at most, shard and node IDs unique, moves naming known shards."""
    if not isinstance(document, dict):
        raise TopologyError("expected a JSON object with 'version' and 'shards'")
    version = document.get("version")
    if version != VERSION:
        raise TopologyError(f"unknown version {version!r} (this server reads {VERSION})")
    shards = tuple(
        _shard(raw, f"shards[{index}]")
        for index, raw in enumerate(_list(document.get("shards"), "shards"))
    )
    owners: dict[int, str] = {}
    seen_nodes: set[str] = set()
    ids = [shard.id for shard in shards]
    if len(set(ids)) != len(ids):
        raise TopologyError("two shards have the same ID")
    for shard in shards:
        for first, last in shard.slots:
            for slot in range(first, last + 1):
                if slot in owners:
                    raise TopologyError(f"slot {slot} is in shards {owners[slot]} and {shard.id}")
                owners[slot] = shard.id
        for member in shard.members:
            if member.id in seen_nodes:
                raise TopologyError(f"node {member.id} is in two places")
            seen_nodes.add(member.id)
        for slot, other in {**shard.migrating, **shard.importing}.items():
            if other not in ids or other == shard.id:
                raise TopologyError(f"shard {shard.id}: slot {slot} moves to or from {other!r}")
    return Topology(shards, version)
