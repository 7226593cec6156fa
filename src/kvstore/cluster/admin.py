"""``kvstore-cluster``: set up and inspect a cluster whose metadata lives in etcd.

    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] create TOPOLOGY.json
    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] update TOPOLOGY.json
    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] status
    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] failover SHARD [--to NODE]
    kvstore-cluster --etcd ... add-shard|reshard|fix ...   (kvstore.cluster.reshard)

``create`` stores the topology document (checked first) only if the cluster has none yet;
``update`` replaces it in a compare-and-swap on the revision it read, so a change made by
someone else meanwhile is never overwritten; ``status`` prints each shard's slots, members
and leader (with its epoch); ``failover`` asks the shard's primary to hand the shard over to a
replica (``--to``, or one holding every acknowledged write) and waits until it did. Exit
status: 0, 1 if the cluster exists already (create), has no topology (update, status,
failover) or changed meanwhile (update), or the failover did not happen, 2 for a bad document
or argument or an unreachable etcd.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from kvstore.cluster import keys, reshard
from kvstore.cluster.membership import NoTopologyError, read_state
from kvstore.cluster.metadata import MetadataError, MetadataStore
from kvstore.cluster.startup import ClusterSetupError, read_topology_file
from kvstore.cluster.sync import SyncSet, parse
from kvstore.slots import SLOTS


def create(store: MetadataStore, name: str, path: str) -> str | None:
    """Store the topology in ``path``; an error message, or None once it is stored."""
    topology = read_topology_file(path)
    entry = store.create(keys.topology_key(name), topology.to_json().encode())
    if entry is None:
        return f"cluster {name!r} exists already ({keys.topology_key(name).decode()})"
    for shard in topology.shards:
        # Bootstrap follows failover's rule: only a sync member may lead, here the primary.
        if shard.primary is not None:
            sync = SyncSet(shard.primary.id, (shard.primary.id,))
            store.create(keys.sync_key(name, shard.id), sync.to_json())
    return None


def update(store: MetadataStore, name: str, path: str) -> str | None:
    """Replace the topology with the one in ``path`` if no one changed it meanwhile; an error
    message, or None once it is replaced."""
    topology = read_topology_file(path)
    current = store.get(keys.topology_key(name))
    if current is None:
        raise NoTopologyError(f"cluster {name!r} has no topology (create it first)")
    if not store.replace(
        keys.topology_key(name), topology.to_json().encode(), current.mod_revision
    ):
        return f"the topology of {name!r} changed meanwhile: read it again (status) and retry"
    return None


def status(store: MetadataStore, name: str) -> str:
    """The cluster as etcd describes it, one shard per paragraph."""
    state = read_state(store, name)
    entries, _ = store.get_prefix(keys.prefix(name))
    lines = [f"cluster {name}: topology at revision {state.revision}"]
    served = 0
    for shard in state.topology().shards:
        ranges = " ".join(f"{a}-{b}" if a != b else str(a) for a, b in shard.slots)
        served += sum(b - a + 1 for a, b in shard.slots)
        leader = entries.get(keys.leader_key(name, shard.id))
        led = "no leader" if leader is None else f"leader {leader.value.decode()}"
        lines.append(f"shard {shard.id}: slots {ranges or '-'}; epoch {shard.epoch}; {led}")
        sync = entries.get(keys.sync_key(name, shard.id))
        members = None if sync is None else parse(sync.value)
        if members is not None:
            lines.append(f"  sync: {' '.join(members.members)}")
        for member in shard.members:
            lines.append(f"  {member.role:8} {member.id} {member.host}:{member.port}")
    lines.append(f"slots served: {served} of {SLOTS}")
    return "\n".join(lines)


#: Seconds ``failover`` waits for the new leader.
FAILOVER_WAIT = 15.0


class UsageError(Exception):
    """A command refused before anything was written; exit status 2."""


def failover(store: MetadataStore, name: str, shard_id: str, to: str | None) -> str | None:
    """Ask the leader of ``shard_id`` to hand it over (to ``to`` if given) and wait: an error
    message, or None once another node leads."""
    state = read_state(store, name)
    shard = state.document.shard(shard_id)
    if shard is None:
        raise UsageError(f"cluster {name!r} has no shard {shard_id!r}")
    leader = state.leader(shard_id)
    if leader is None:
        return f"shard {shard_id} has no leader now"
    if to is not None and (to == leader or all(m.id != to for m in shard.members)):
        raise UsageError(f"{to} is not a replica of shard {shard_id}")
    store.put(keys.failover_key(name, shard_id), json.dumps({"to": to}).encode())
    deadline = time.monotonic() + FAILOVER_WAIT
    while time.monotonic() < deadline:
        entry = store.get(keys.leader_key(name, shard_id))
        if entry is not None and entry.value.decode() != leader:
            print(
                f"shard {shard_id}: leader {entry.value.decode()} (epoch {entry.create_revision})"
            )
            return None
        time.sleep(0.1)  # the nodes act on their own: look again
    return f"shard {shard_id}: no other node took over (see the primary's log)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kvstore-cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--etcd", required=True, help="etcd members, host:port[,host:port...]")
    parser.add_argument("--name", default=keys.DEFAULT_NAME, help="the cluster's name")
    commands = parser.add_subparsers(dest="command", required=True)
    create_command = commands.add_parser("create", help="store a topology document in etcd")
    create_command.add_argument("topology", help="the topology document (JSON)")
    update_command = commands.add_parser("update", help="replace the topology (compare-and-swap)")
    update_command.add_argument("topology", help="the new topology document (JSON)")
    commands.add_parser("status", help="print the cluster's shards and leaders")
    failover_command = commands.add_parser("failover", help="hand a shard to a replica")
    failover_command.add_argument("shard", help="the shard's ID")
    failover_command.add_argument("--to", help="the replica's node ID (default: a sync one)")
    reshard.add_arguments(commands)
    options = parser.parse_args(argv)
    from kvstore.cluster.etcd import EtcdStore  # noqa: PLC0415 - needs the cluster extra

    try:
        store = EtcdStore([part for part in options.etcd.split(",") if part])
        if options.command in reshard.COMMANDS:
            refusal = reshard.run(store, options.name, options)
            if refusal is not None:
                print(f"kvstore-cluster: {refusal}", file=sys.stderr)
                return 1
            return 0
        if options.command in ("create", "update"):
            change = create if options.command == "create" else update
            refusal = change(store, options.name, options.topology)
            if refusal is not None:
                print(f"kvstore-cluster: {refusal}", file=sys.stderr)
                return 1
            print(f"{options.command}d cluster {options.name!r}")
            return 0
        if options.command == "failover":
            refusal = failover(store, options.name, options.shard, options.to)
            if refusal is not None:
                print(f"kvstore-cluster: {refusal}", file=sys.stderr)
                return 1
            return 0
        print(status(store, options.name))
        return 0
    except NoTopologyError as exc:
        print(f"kvstore-cluster: {exc}", file=sys.stderr)
        return 1
    except (MetadataError, ClusterSetupError, UsageError) as exc:
        print(f"kvstore-cluster: {exc}", file=sys.stderr)
        return 2
