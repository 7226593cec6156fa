"""The topology a node starts from in cluster mode, and its node ID.

With ``--cluster-topology-file``, the shards that file names; with
``--cluster-etcd-endpoints``, the topology document in etcd (followed from then on, see
:mod:`kvstore.cluster.membership`). This node is the member ``--cluster-node-id`` names or,
without it, the member at ``--cluster-announce-hostname`` and this node's port (where every
node listens on the same port, as in Kubernetes) or, without that either, the only member on
this node's port (``--cluster-announce-port`` when set). With neither source, one shard of
this node alone serving every slot, under the ID kept in ``--dir`` (made up on the first
start, as Redis keeps its own in nodes.conf).
"""

from __future__ import annotations

import os
from pathlib import Path

from kvstore.cluster.membership import EtcdMembership, read_state
from kvstore.cluster.metadata import MetadataError
from kvstore.cluster.topology import (
    Topology,
    TopologyError,
    from_json,
    is_node_id,
    new_node_id,
    single_node,
)
from kvstore.cluster.view import TopologyView
from kvstore.config import ServerConfig

#: The file in ``--dir`` that keeps a lone node's ID across restarts.
NODE_ID_FILE = "cluster-node-id"


class ClusterSetupError(Exception):
    """Cluster mode cannot start; the message is one line for the user."""


def stored_node_id(config: ServerConfig) -> str:
    """This node's ID from ``--dir`` (written there the first time); a fresh one each start
    with persistence off."""
    if config.no_persist:
        return new_node_id()
    path = Path(config.dir) / NODE_ID_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ClusterSetupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if is_node_id(text):
        return text
    node_id = new_node_id()
    try:
        os.makedirs(config.dir, exist_ok=True)
        path.write_text(node_id + "\n", encoding="ascii")
    except OSError as exc:
        raise ClusterSetupError(f"cannot write {path}: {exc.strerror or exc}") from None
    return node_id


def read_topology_file(path: str) -> Topology:
    try:
        with open(path, encoding="utf-8") as file:
            return from_json(file.read())
    except OSError as exc:
        raise ClusterSetupError(f"cannot read {path}: {exc.strerror or exc}") from None
    except TopologyError as exc:
        raise ClusterSetupError(f"{path}: {exc}") from None


def _my_port(config: ServerConfig) -> int:
    return config.port or config.tls_port


def _announced_port(config: ServerConfig) -> int:
    return config.cluster_announce_port or _my_port(config)


def _same_host(a: str, b: str) -> bool:
    """DNS names compare without case and without a final dot."""
    return a.rstrip(".").casefold() == b.rstrip(".").casefold()


def _my_id(config: ServerConfig, topology: Topology, source: str) -> str:
    members = [member for shard in topology.shards for member in shard.members]
    if config.cluster_node_id:
        if not any(member.id == config.cluster_node_id for member in members):
            raise ClusterSetupError(
                f"{source}: no member has this node's ID {config.cluster_node_id}"
            )
        return config.cluster_node_id
    port = _announced_port(config)
    host = config.cluster_announce_hostname
    if host:
        # Where every node listens on the same port (Kubernetes), the host name tells them apart.
        named = [m for m in members if _same_host(m.host, host) and m.port == port]
        if len(named) != 1:
            raise ClusterSetupError(
                f"{source}: {len(named)} members at {host}:{port} "
                "(--cluster-announce-hostname and port); give --cluster-node-id"
            )
        return named[0].id
    mine = [member for member in members if member.port == port]
    if len(mine) != 1:
        raise ClusterSetupError(
            f"{source}: {len(mine)} members on port {port}; give --cluster-node-id"
        )
    return mine[0].id


def starting_view(config: ServerConfig) -> tuple[TopologyView, EtcdMembership | None]:
    """The view a node in cluster mode starts with, and what keeps it in step with etcd when
    the topology lives there (ClusterSetupError if it cannot start)."""
    if config.cluster_etcd_endpoints:
        return _from_etcd(config)
    if not config.cluster_topology_file:
        node_id = config.cluster_node_id or stored_node_id(config)
        return TopologyView(single_node(node_id, "", _my_port(config)), node_id), None
    topology = read_topology_file(config.cluster_topology_file)
    view = TopologyView(topology, _my_id(config, topology, config.cluster_topology_file))
    return view, None


def _from_etcd(config: ServerConfig) -> tuple[TopologyView, EtcdMembership]:
    from kvstore.cluster.etcd import EtcdStore  # noqa: PLC0415 - needs the cluster extra

    try:
        store = EtcdStore(config.cluster_etcd_endpoints)
        state = read_state(store, config.cluster_name)
    except MetadataError as exc:
        raise ClusterSetupError(str(exc)) from None
    topology = state.topology()
    view = TopologyView(topology, _my_id(config, topology, "the topology in etcd"))
    membership = EtcdMembership(
        store,
        config.cluster_name,
        view,
        state,
        sync_replicas=config.cluster_sync_replicas,
        persists=not config.no_persist,
    )
    return view, membership
