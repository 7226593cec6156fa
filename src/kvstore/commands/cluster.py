"""CLUSTER (SLOTS, SHARDS, NODES, MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, INFO),
READONLY, READWRITE and ASKING, answering as Redis Cluster does from the topology the server
was given (:class:`~kvstore.commands.ports.ClusterView`); INFO's cluster section.

Outside cluster mode every one of them is refused as Redis refuses them.
"""

from __future__ import annotations

from kvstore.commands.cluster_guard import endpoint
from kvstore.commands.context import Session
from kvstore.commands.info import InfoFields, info_section
from kvstore.commands.ports import ClusterMember, ClusterShard, ClusterView
from kvstore.commands.table import (
    SUBCOMMAND_TABLES,
    Args,
    Subcommands,
    command,
    dispatch_subcommand,
    parse_int,
)
from kvstore.protocol.replies import OK, Reply, ReplyError, Status, Verbatim
from kvstore.slots import SLOTS, key_slot

DISABLED = "ERR This instance has cluster support disabled"


def _view(session: Session) -> ClusterView:
    view = session.server.cluster
    if view is None:
        raise ReplyError(DISABLED)
    return view


def _host_port(member: ClusterMember, session: Session) -> tuple[str, int]:
    host, _, port = endpoint(member, session).rpartition(":")
    return host, int(port)


def _ordered(shard: ClusterShard) -> list[ClusterMember]:
    """The primary first, then the replicas, as Redis lists a shard's nodes."""
    return sorted(shard.members, key=lambda member: member.role != "primary")


def _slots(session: Session, args: Args) -> Reply:
    view = _view(session)
    ranges: list[tuple[int, list[Reply]]] = []
    for shard in view.shards:
        nodes: list[Reply] = []
        for member in _ordered(shard):
            host, port = _host_port(member, session)
            nodes.append([host.encode(), port, member.id.encode(), {}])
        for first, last in shard.slots:
            ranges.append((first, [first, last, *nodes]))
    return [entry for _first, entry in sorted(ranges, key=lambda pair: pair[0])]


def _shards(session: Session, args: Args) -> Reply:
    view = _view(session)
    reply: list[Reply] = []
    for shard in view.shards:
        nodes: list[Reply] = []
        for member in _ordered(shard):
            host, port = _host_port(member, session)
            nodes.append(
                {
                    b"id": member.id.encode(),
                    b"port": port,
                    b"ip": host.encode(),
                    b"endpoint": host.encode(),
                    b"role": b"master" if member.role == "primary" else b"replica",
                    b"replication-offset": 0,
                    b"health": b"online",
                }
            )
        ranges: list[Reply] = [bound for pair in shard.slots for bound in pair]
        reply.append({b"slots": ranges, b"nodes": nodes})
    return reply


def node_lines(view: ClusterView, session: Session) -> str:
    """CLUSTER NODES: one line per node, in Redis's format (no cluster bus: port ``@0``)."""
    lines = []
    for shard in view.shards:
        primary = shard.primary
        for member in _ordered(shard):
            role = "master" if member.role == "primary" else "slave"
            flags = f"myself,{role}" if member.id == view.my_id else role
            of = "-" if member.role == "primary" or primary is None else primary.id
            words = [member.id, f"{endpoint(member, session)}@0", flags, of, "0", "0"]
            words += [str(shard.epoch), "connected"]
            if member.role == "primary":
                words += [str(a) if a == b else f"{a}-{b}" for a, b in shard.slots]
                if member.id == view.my_id:
                    words += [f"[{s}->-{_primary_id(view, t)}]" for s, t in shard.migrating.items()]
                    words += [f"[{s}-<-{_primary_id(view, f)}]" for s, f in shard.importing.items()]
            lines.append(" ".join(words))
    return "".join(line + "\n" for line in lines)


def _primary_id(view: ClusterView, shard_id: str) -> str:
    for shard in view.shards:
        if shard.id == shard_id and shard.primary is not None:
            return shard.primary.id
    return "-"


def _nodes(session: Session, args: Args) -> Reply:
    return Verbatim(node_lines(_view(session), session).encode())


def _myid(session: Session, args: Args) -> Reply:
    return _view(session).my_id.encode()


def _keyslot(session: Session, args: Args) -> Reply:
    _view(session)
    return key_slot(args[2])


def _slot_arg(raw: bytes) -> int:
    slot = parse_int(raw)
    if not 0 <= slot < SLOTS:
        raise ReplyError("ERR Invalid slot")
    return slot


def _countkeysinslot(session: Session, args: Args) -> Reply:
    _view(session)
    slot = _slot_arg(args[2])
    keys = session.db.keys()  # a Keyspace's keys, not a dict's
    return sum(1 for key in keys if key_slot(key) == slot)


def _getkeysinslot(session: Session, args: Args) -> Reply:
    _view(session)
    slot, count = parse_int(args[2]), parse_int(args[3])
    if not 0 <= slot < SLOTS or count < 0:
        raise ReplyError("ERR Invalid slot or number of keys")
    found: list[Reply] = []
    keys = session.db.keys()
    for key in keys:
        if len(found) >= count:
            break
        if key_slot(key) == slot:
            found.append(key)
    return found


def _getkeysinslots(session: Session, args: Args) -> Reply:
    """kvstore's own ``CLUSTER GETKEYSINSLOTS count slot [slot ...]``: up to ``count`` keys of
    any of the slots, in one scan of the keyspace (GETKEYSINSLOT scans it for one slot), so
    that resharding many slots does not scan it once per slot."""
    _view(session)
    count = parse_int(args[2])
    slots = {parse_int(raw) for raw in args[3:]}
    if count < 0 or not all(0 <= slot < SLOTS for slot in slots):
        raise ReplyError("ERR Invalid slot or number of keys")
    found: list[Reply] = []
    if not count:
        return found
    keys = session.db.keys()  # a Keyspace's keys, not a dict's
    for key in keys:
        if key_slot(key) in slots:
            found.append(key)
            if len(found) >= count:
                break
    return found


def cluster_fields(view: ClusterView) -> dict[str, str | int]:
    """CLUSTER INFO's fields (also what ``kvstore-cluster status`` prints)."""
    assigned = sum(last - first + 1 for shard in view.shards for first, last in shard.slots)
    mine = view.my_shard()
    members = sum(len(shard.members) for shard in view.shards)
    return {
        "cluster_state": "ok" if assigned == SLOTS else "fail",
        "cluster_slots_assigned": assigned,
        "cluster_slots_ok": assigned,
        "cluster_slots_pfail": 0,
        "cluster_slots_fail": 0,
        "cluster_known_nodes": members,
        "cluster_size": sum(1 for shard in view.shards if shard.slots),
        "cluster_current_epoch": view.epoch,
        "cluster_my_epoch": 0 if mine is None else mine.epoch,
        "cluster_stats_messages_sent": 0,
        "cluster_stats_messages_received": 0,
        "total_cluster_links_buffer_limit_exceeded": 0,
    }


def _info(session: Session, args: Args) -> Reply:
    fields = cluster_fields(_view(session))
    return Verbatim("".join(f"{name}:{value}\r\n" for name, value in fields.items()).encode())


HELP = (
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "HELP",
    "    Print this help.",
)


def _help(session: Session, args: Args) -> Reply:
    _view(session)
    return [Status(line) for line in HELP]


_CLUSTER: Subcommands = {
    b"slots": (2, _slots),
    b"shards": (2, _shards),
    b"nodes": (2, _nodes),
    b"myid": (2, _myid),
    b"keyslot": (3, _keyslot),
    b"countkeysinslot": (3, _countkeysinslot),
    b"getkeysinslot": (4, _getkeysinslot),
    b"getkeysinslots": (-4, _getkeysinslots),
    b"info": (2, _info),
    b"help": (2, _help),
}
SUBCOMMAND_TABLES[b"cluster"] = _CLUSTER


@command("cluster", -2, "", group="cluster", summary="Describe the cluster.")
def cluster(session: Session, args: Args) -> Reply:
    # An unknown subcommand or a wrong arity is refused first, as Redis does; then each
    # subcommand refuses to run outside cluster mode.
    return dispatch_subcommand(_CLUSTER, session, args)


@command(
    "readonly",
    1,
    "loading stale fast",
    group="cluster",
    summary="Read from replicas (cluster).",
    acl="connection",
)
def readonly(session: Session, args: Args) -> Reply:
    _view(session)
    session.readonly = True
    return OK


@command(
    "readwrite",
    1,
    "loading stale fast",
    group="cluster",
    summary="Read from primaries (cluster).",
    acl="connection",
)
def readwrite(session: Session, args: Args) -> Reply:
    _view(session)
    session.readonly = False
    return OK


@command(
    "asking",
    1,
    "fast",
    group="cluster",
    summary="Use a slot being imported, once.",
    acl="connection",
)
def asking(session: Session, args: Args) -> Reply:
    _view(session)
    session.asking = True
    return OK


@info_section("cluster")
def _cluster_section(session: Session) -> InfoFields:
    return {"cluster_enabled": 0 if session.server.cluster is None else 1}
