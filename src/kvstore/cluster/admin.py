"""``kvstore-cluster``: set up and inspect a cluster whose metadata lives in etcd.

    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] create TOPOLOGY.json
    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] update TOPOLOGY.json
    kvstore-cluster --etcd HOST:PORT[,HOST:PORT...] [--name NAME] status
    kvstore-cluster --etcd ... add-shard|reshard|fix ...   (kvstore.cluster.reshard)

``create`` stores the topology document (checked first) only if the cluster has none yet;
``update`` replaces it in a compare-and-swap on the revision it read, so a change made by
someone else meanwhile is never overwritten; ``status`` prints each shard's slots, members
and leader (with its epoch). Exit status: 0, 1 if the cluster exists already (create), has no
topology (update, status) or changed meanwhile (update), 2 for a bad document or an
unreachable etcd.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kvstore.cluster import keys, reshard
from kvstore.cluster.membership import NoTopologyError, read_state
from kvstore.cluster.metadata import MetadataError, MetadataStore
from kvstore.cluster.startup import ClusterSetupError, read_topology_file
from kvstore.slots import SLOTS


def create(store: MetadataStore, name: str, path: str) -> str | None:
    """Store the topology in ``path``; an error message, or None once it is stored."""
    topology = read_topology_file(path)
    entry = store.create(keys.topology_key(name), topology.to_json().encode())
    if entry is None:
        return f"cluster {name!r} exists already ({keys.topology_key(name).decode()})"
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
        for member in shard.members:
            lines.append(f"  {member.role:8} {member.id} {member.host}:{member.port}")
    lines.append(f"slots served: {served} of {SLOTS}")
    return "\n".join(lines)


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
        print(status(store, options.name))
        return 0
    except NoTopologyError as exc:
        print(f"kvstore-cluster: {exc}", file=sys.stderr)
        return 1
    except (MetadataError, ClusterSetupError) as exc:
        print(f"kvstore-cluster: {exc}", file=sys.stderr)
        return 2
