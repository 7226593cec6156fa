"""The built-in INFO sections. Field names are Redis's wherever the meaning is the same.

Compatibility: ``redis_version`` reports the Redis version whose command semantics kvstore
follows (:data:`REDIS_COMPATIBLE_VERSION`), because tools and client libraries read it to
decide what they may send; kvstore's own version is ``kvstore_version``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import sys
import time

from kvstore import build
from kvstore.commands.context import VERSION, Session
from kvstore.commands.info import InfoFields, info_section
from kvstore.keyspace import wall_clock_ms

REDIS_COMPATIBLE_VERSION = "7.0.0"
#: Identifies this server process, as Redis's run_id (40 hex digits, new at every start).
RUN_ID = secrets.token_hex(20)
#: The replication ID a master without replicas still reports (40 hex digits, new at every
#: start, as Redis's ``master_replid``).
REPLICATION_ID = secrets.token_hex(20)
#: Redis prints a hash of its build; kvstore has no build, so a hash of its version stands in.
BUILD_ID = hashlib.sha1(f"kvstore {VERSION}".encode()).hexdigest()[:15]


def human_bytes(count: int) -> str:
    """A byte count as Redis writes it for ``*_human`` fields: ``200B``, ``1.33M``."""
    if count < 1024:
        return f"{count}B"
    value = count / 1024
    for unit in "KMGT":
        if value < 1024:
            return f"{value:.2f}{unit}"
        value /= 1024
    return f"{value:.2f}P"


def resident_bytes() -> int | None:
    """The process's resident set size from ``/proc/self/statm``; None where there is none."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@info_section("server")
def _server(session: Session) -> InfoFields:
    uptime = max(0, wall_clock_ms() - session.server.started_ms) // 1000
    return {
        "redis_version": REDIS_COMPATIBLE_VERSION,
        "redis_git_sha1": "00000000",
        "redis_git_dirty": 0,
        "redis_build_id": BUILD_ID,
        "kvstore_version": VERSION,
        "redis_mode": "standalone" if session.server.cluster is None else "cluster",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "arch_bits": 64 if sys.maxsize > 2**32 else 32,
        "python_version": platform.python_version(),
        "kvstore_build": build.BUILD,
        "kvstore_event_loop": build.event_loop_name(),
        "kvstore_parser": build.parser_in_use(session.server.settings().get("parser", "auto")),
        "process_id": os.getpid(),
        "run_id": RUN_ID,
        "tcp_port": session.server.settings().get("port", ""),
        "server_time_usec": time.time_ns() // 1000,
        "uptime_in_seconds": uptime,
        "uptime_in_days": uptime // 86400,
    }


@info_section("clients")
def _clients(session: Session) -> InfoFields:
    sessions = session.server.sessions.values()
    return {
        "connected_clients": len(sessions),
        "maxclients": int(session.server.settings().get("maxclients", "0")),
        "blocked_clients": session.server.paused_clients,
        "tracking_clients": 0,
        "watching_clients": sum(1 for s in sessions if s.watch is not None and s.watch.keys),
        "total_watched_keys": session.server.dbs.watched_count,
    }


@info_section("memory")
def _memory(session: Session) -> InfoFields:
    clients = session.server.clients_memory
    used = session.server.dbs.used_memory + clients
    fields: dict[str, str | int] = {"used_memory": used, "used_memory_human": human_bytes(used)}
    rss = resident_bytes()
    if rss is not None:
        fields["used_memory_rss"] = rss
        fields["used_memory_rss_human"] = human_bytes(rss)
    fields["mem_clients_slaves"] = 0
    fields["mem_clients_normal"] = clients
    settings = session.server.settings()
    maxmemory = int(settings.get("maxmemory", "0") or 0)
    fields["maxmemory"] = maxmemory
    fields["maxmemory_human"] = human_bytes(maxmemory)
    fields["maxmemory_policy"] = settings.get("maxmemory-policy", "noeviction")
    fields["mem_allocator"] = "pymalloc"
    return fields


@info_section("stats")
def _stats(session: Session) -> InfoFields:
    state = session.server
    stats = state.stats
    db = state.dbs
    fields: dict[str, str | int] = {
        "total_connections_received": state.total_connections,
        "rejected_connections": state.rejected_connections,
        "total_commands_processed": stats.total_calls,
        "instantaneous_ops_per_sec": stats.ops.per_second(),
        "expired_keys": db.expired_keys,
        "evicted_keys": db.evicted_keys,
        "keyspace_hits": db.hits,
        "keyspace_misses": db.misses,
        "total_error_replies": stats.errors,
        "client_output_buffer_limit_disconnections": state.output_limit_disconnections,
        "pubsub_channels": len(state.pubsub.channels),
        "pubsub_patterns": len(state.pubsub.patterns),
        "pubsubshard_channels": len(state.pubsub.shard_channels),
        # Connections MIGRATE keeps to its targets, closed after 10 s idle, as Redis's.
        "migrate_cached_sockets": 0 if state.transfer is None else state.transfer.cached,
    }
    if state.replication is not None:
        fields.update(state.replication.stats())
    return fields


@info_section("replication")
def _replication(session: Session) -> InfoFields:
    replication = session.server.replication
    if replication is not None:
        return replication.info()
    # A master with no replicas and no backlog, as Redis 7.0 reports one.
    return {
        "role": "master",
        "connected_slaves": 0,
        "master_failover_state": "no-failover",
        "master_replid": REPLICATION_ID,
        "master_replid2": "0" * 40,
        "master_repl_offset": 0,
        "second_repl_offset": -1,
        "repl_backlog_active": 0,
        "repl_backlog_size": 1048576,
        "repl_backlog_first_byte_offset": 0,
        "repl_backlog_histlen": 0,
    }


@info_section("cpu")
def _cpu(session: Session) -> InfoFields:
    times = os.times()
    return {
        "used_cpu_sys": f"{times.system:.6f}",
        "used_cpu_user": f"{times.user:.6f}",
        "used_cpu_sys_children": f"{times.children_system:.6f}",
        "used_cpu_user_children": f"{times.children_user:.6f}",
    }


@info_section("keyspace")
def _keyspace(session: Session) -> InfoFields:
    # One line per database holding keys, as Redis. avg_ttl is 0: estimating it would cost a
    # pass over the deadlines.
    return {
        f"db{db.index}": f"keys={len(db)},expires={db.volatile_count},avg_ttl=0"
        for db in session.server.dbs
        if len(db)
    }
