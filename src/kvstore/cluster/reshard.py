"""``kvstore-cluster add-shard``, ``reshard`` and ``fix``: grow the cluster and move slots,
with their keys, between shards while clients go on using them.

Each step of a reshard moves a batch of slots and is recorded in etcd, so an administrator
that dies at any point leaves a step that ``reshard`` or ``fix`` finishes:

1. one compare-and-swap of the topology marks the batch ``migrating`` (to the target) on the
   source shard and ``importing`` (from the source) on the target: the record of the step.
   From then on the source answers ``ASK`` for keys it no longer has, and the target serves
   them after ``ASKING``, as in Redis Cluster;
2. wait until both primaries show the marks in ``CLUSTER NODES`` (``[slot->-id]`` and
   ``[slot-<-id]``): each node applies etcd's changes on its own;
3. move the keys: ``CLUSTER GETKEYSINSLOTS`` (one scan of the source's keyspace for the whole
   batch) then ``MIGRATE host port "" 0 timeout REPLACE KEYS ...`` in groups of up to
   ``pipeline`` keys of one slot, until the source has none left in those slots. REPLACE
   makes a repeated group harmless: a key still on the source is the one clients write to;
4. one compare-and-swap hands the slots to the target and clears the marks.

The changes of the topology are :mod:`kvstore.cluster.steps`'s; this module drives the
nodes through each step, and is the command line's.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence

from kvstore.cluster.metadata import MetadataError, MetadataStore
from kvstore.cluster.node_link import NodeError, NodeLink
from kvstore.cluster.steps import (
    ReshardError,
    add_shard,
    assign,
    change_topology,
    mark,
    open_steps,
    ranges_of,
    read_topology,
    shard_of,
    slots_of,
)
from kvstore.cluster.topology import Member, Shard, TopologyError
from kvstore.slots import SLOTS, key_slot

COMMANDS = ("add-shard", "reshard", "fix")
#: How long a node may take to show a change of the topology (it follows etcd's watch).
APPLY_TIMEOUT = 30.0
#: MIGRATE commands sent to the source at once (each waits for the one before it there).
PIPELINED = 32

Report = Callable[[str], None]


# -- the nodes -----------------------------------------------------------------------------------


def _primary(shard: Shard) -> Member:
    primary = shard.primary
    if primary is None:
        raise ReshardError(f"shard {shard.id} has no primary")
    return primary


def _link(member: Member, timeout: float) -> NodeLink:
    return NodeLink(member.host or "127.0.0.1", member.port, timeout)


def wait_applied(link: NodeLink, markers: set[str]) -> None:
    """Step 2: wait until the node's CLUSTER NODES shows every marker (or none of them, for
    an empty set of markers that must all be gone)."""
    deadline = time.monotonic() + APPLY_TIMEOUT
    while True:
        lines = link.call("CLUSTER", "NODES")
        text = lines.decode() if isinstance(lines, bytes) else str(lines)
        mine = next((line for line in text.splitlines() if "myself" in line.split()[2]), "")
        if markers <= set(mine.split()):
            return
        if time.monotonic() > deadline:
            raise ReshardError(f"{link.address} did not apply the step in {APPLY_TIMEOUT:.0f}s")
        time.sleep(0.01)


def move_keys(
    source: NodeLink, target: Member, slots: Sequence[int], pipeline: int, timeout_ms: int
) -> int:
    """Step 3: MIGRATE every key of ``slots`` from the source to the target; how many moved."""
    moved = 0
    scan = max(pipeline * 100, 10_000)
    previous: list[bytes] = []
    while True:
        found = source.call("CLUSTER", "GETKEYSINSLOTS", scan, *slots)
        if not found:
            return moved
        if found == previous:  # migrated, yet still there: deleting them was refused
            raise ReshardError(f"{source.address} keeps the keys it migrated (is it writable?)")
        previous = found
        by_slot: dict[int, list[bytes]] = {}
        for key in found:  # MIGRATE's keys share a slot (CROSSSLOT otherwise), as in Redis
            by_slot.setdefault(key_slot(key), []).append(key)
        groups = [
            same[start : start + pipeline]
            for same in by_slot.values()
            for start in range(0, len(same), pipeline)
        ]
        host = target.host or "127.0.0.1"
        for start in range(0, len(groups), PIPELINED):  # MIGRATEs sent together: they queue
            sent = groups[start : start + PIPELINED]
            replies = source.pipeline(
                [
                    ("MIGRATE", host, target.port, "", 0, timeout_ms, "REPLACE", "KEYS", *group)
                    for group in sent
                ]
            )
            for reply in replies:
                if reply not in (b"OK", b"NOKEY"):
                    raise ReshardError(f"MIGRATE answered {reply!r}")
            moved += sum(len(group) for group in sent)


@dataclasses.dataclass
class Mover:
    """Carries out steps against etcd ``store`` for cluster ``name``."""

    store: MetadataStore
    name: str
    pipeline: int = 100
    timeout_ms: int = 60_000
    report: Report = print

    def finish(self, source_id: str, target_id: str, slots: Sequence[int]) -> None:
        """Steps 2 to 4 for slots already marked (step 1 done, by this run or a dead one)."""
        topology, _ = read_topology(self.store, self.name)
        source, target = shard_of(topology, source_id), shard_of(topology, target_id)
        source_primary, target_primary = _primary(source), _primary(target)
        timeout = self.timeout_ms / 1000 + 10
        source_link = _link(source_primary, timeout)
        target_link = _link(target_primary, timeout)
        try:
            wait_applied(source_link, {f"[{s}->-{target_primary.id}]" for s in slots})
            wait_applied(target_link, {f"[{s}-<-{source_primary.id}]" for s in slots})
            moved = move_keys(source_link, target_primary, slots, self.pipeline, self.timeout_ms)
        finally:
            source_link.close()
            target_link.close()
        change_topology(self.store, self.name, assign(source_id, target_id, slots))
        shown = " ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges_of(set(slots)))
        self.report(f"moved slots {shown} ({moved} keys) from {source_id} to {target_id}")

    def fix(self) -> int:
        """Finish every step left open; how many there were."""
        topology, _ = read_topology(self.store, self.name)
        steps = open_steps(topology)
        for (source_id, target_id), slots in steps.items():
            self.finish(source_id, target_id, slots)
        return len(steps)

    def reshard(
        self, source_id: str, target_id: str, wanted: int | tuple[int, int], per_step: int
    ) -> None:
        """Finish open steps, then move slots from the source to the target, ``per_step``
        at a time: the lowest ``wanted`` of the source's, or those of the range it serves."""
        self.fix()
        topology, _ = read_topology(self.store, self.name)
        source = shard_of(topology, source_id)
        shard_of(topology, target_id)
        if source_id == target_id:
            raise ReshardError("the source and the target are the same shard")
        owned = sorted(slots_of(source))
        if isinstance(wanted, int):
            if wanted > len(owned):
                raise ReshardError(f"shard {source_id} serves {len(owned)} slots, not {wanted}")
            chosen = owned[:wanted]
        else:
            chosen = [slot for slot in owned if wanted[0] <= slot <= wanted[1]]
        for batch in _chunks(chosen, per_step):
            change_topology(self.store, self.name, mark(source_id, target_id, batch))
            self.finish(source_id, target_id, batch)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the command line (registered by kvstore.cluster.admin) ---------------------------------------


def add_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add = commands.add_parser("add-shard", help="add a shard (no slots yet) to the topology")
    add.add_argument("shard", help="the new shard's ID")
    add.add_argument("members", help="HOST:PORT[@NODE_ID][,...]: the primary first")
    move = commands.add_parser("reshard", help="move slots and their keys between shards")
    move.add_argument("--from", dest="source", required=True, help="the shard giving slots")
    move.add_argument("--to", dest="target", required=True, help="the shard taking them")
    move.add_argument("--slots", required=True, help="N (the lowest N) or FIRST-LAST")
    move.add_argument("--pipeline", type=int, default=100, help="keys per MIGRATE (100)")
    move.add_argument("--slots-per-step", type=int, default=128, help="slots per step (128)")
    move.add_argument("--timeout", type=int, default=60_000, help="MIGRATE's timeout, ms")
    commands.add_parser("fix", help="finish the reshard steps left open (after a crash)")


def _wanted(text: str) -> int | tuple[int, int]:
    first, dash, last = text.partition("-")
    if first.isdigit() and (not dash or last.isdigit()):
        if not dash:
            return int(first)
        if int(first) <= int(last) < SLOTS:
            return int(first), int(last)
    raise ReshardError(f"--slots {text!r}: expected a count or FIRST-LAST (0-{SLOTS - 1})")


def run(store: MetadataStore, name: str, options: argparse.Namespace) -> str | None:
    """Run ``add-shard``, ``reshard`` or ``fix``; an error message, or None once done."""
    try:
        if options.command == "add-shard":
            topology = add_shard(store, name, options.shard, options.members)
            shard = shard_of(topology, options.shard)
            for member in shard.members:
                print(f"  {member.role:8} {member.id} {member.host}:{member.port}")
            print(f"added shard {options.shard!r}: start its nodes with these IDs")
            return None
        mover = Mover(store, name)
        if options.command == "fix":
            print(f"finished {mover.fix()} open step(s)")
            return None
        if options.pipeline < 1 or options.slots_per_step < 1:
            raise ReshardError("--pipeline and --slots-per-step must be at least 1")
        mover.pipeline, mover.timeout_ms = options.pipeline, options.timeout
        wanted = _wanted(options.slots)
        mover.reshard(options.source, options.target, wanted, options.slots_per_step)
        print(f"resharded {options.source} -> {options.target}")
        return None
    except (ReshardError, NodeError, TopologyError) as exc:
        return str(exc)
    except MetadataError:
        raise
