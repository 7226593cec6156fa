"""REPLICAOF (SLAVEOF), ROLE, WAIT, and the replication link's own REPLCONF and PSYNC: the
arguments are checked here, the work is replication's (reached through
:class:`kvstore.commands.ports.ReplicationControl`)."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.ports import ReplicationControl
from kvstore.commands.table import SYNTAX_ERROR, Args, command, parse_int
from kvstore.protocol.replies import Reply, ReplyError

TIMEOUT_NEGATIVE = "ERR timeout is negative"


def _replication(session: Session) -> ReplicationControl[Session]:
    replication = session.server.replication
    if replication is None:
        raise ReplyError("ERR replication is not available in this server")
    return replication


def _replicaof(session: Session, args: Args) -> Reply:
    host, port = args[1], args[2]
    if host.lower() == b"no" and port.lower() == b"one":
        return _replication(session).replicaof(None, 0)
    number = parse_int(port, "ERR Invalid master port")
    if not 0 < number < 65536:
        raise ReplyError("ERR Invalid master port")
    return _replication(session).replicaof(host.decode("utf-8", "replace"), number)


@command(
    "replicaof",
    3,
    "admin noscript stale no_async_loading",
    group="server",
    summary="Follow a primary (REPLICAOF host port), or stop (REPLICAOF NO ONE).",
)
def replicaof(session: Session, args: Args) -> Reply:
    return _replicaof(session, args)


@command(
    "slaveof",
    3,
    "admin noscript stale no_async_loading",
    group="server",
    summary="The old name of REPLICAOF.",
)
def slaveof(session: Session, args: Args) -> Reply:
    return _replicaof(session, args)


@command(
    "role",
    1,
    "noscript loading stale fast",
    group="server",
    summary="This node's part in replication: master or slave, offsets, replicas.",
    acl="admin dangerous",
)
def role(session: Session, args: Args) -> Reply:
    return _replication(session).role()


@command(
    "wait",
    3,
    "noscript",
    group="generic",
    summary="Wait until the writes so far reach this many replicas, or the timeout.",
    tips="request_policy:all_shards response_policy:agg_min",
    acl="connection",
)
def wait(session: Session, args: Args) -> Reply:
    replicas = parse_int(args[1])
    timeout = parse_int(args[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise ReplyError(TIMEOUT_NEGATIVE)
    return _replication(session).wait(session, replicas, timeout)


@command(
    "replconf",
    -1,
    "admin noscript loading stale allow_busy",
    group="server",
    summary="Tell the primary about a replica (used by the replication link).",
)
def replconf(session: Session, args: Args) -> Reply:
    if len(args) % 2 == 0:
        raise ReplyError(SYNTAX_ERROR)
    return _replication(session).replconf(session, args)


@command(
    "psync",
    -3,
    "admin noscript no_async_loading no_multi",
    group="server",
    summary="Start following this node (used by the replication link).",
)
def psync(session: Session, args: Args) -> Reply:
    offset = parse_int(args[2], "ERR value is not an integer or out of range")
    return _replication(session).psync(session, args[1].decode("utf-8", "replace"), offset)
