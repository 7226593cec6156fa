"""The metrics page: the server's figures in Prometheus's text exposition format (0.0.4).

Every figure comes from where INFO reads it (the INFO section providers, and the command and
error figures of :mod:`kvstore.commands.commandstats`), so the page and INFO always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from kvstore.commands import VERSION, ServerState, Session
from kvstore.commands.commandstats import command_figures, error_figures
from kvstore.commands.info import section_fields

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]
Sample = tuple[Labels, float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Exposition:
    """Collects metric families and renders them: HELP, TYPE, then the samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def add(self, name: str, kind: str, help: str, samples: Iterable[Sample]) -> None:
        self._lines.append(f"# HELP {name} {help}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
            self._lines.append(
                f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}"
            )

    def one(self, name: str, kind: str, help: str, value: float) -> None:
        self.add(name, kind, help, [({}, value)])

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _int(fields: Mapping[str, str | int], name: str) -> int:
    """A numeric INFO field; 0 when absent (a figure another layer has not added yet)."""
    value = fields.get(name, 0)
    return value if isinstance(value, int) else int(float(value))


def _keyspace(session: Session) -> dict[str, int]:
    """``keys`` and ``expires`` from INFO keyspace's ``db0:keys=1,expires=0,avg_ttl=0``."""
    line = str(section_fields(session, "keyspace").get("db0", ""))
    pairs = (part.split("=", 1) for part in line.split(",") if "=" in part)
    return {key: int(value) for key, value in pairs}


#: Figures that are one INFO field each: metric, type, INFO section, field, help.
SIMPLE_FIGURES = (
    ("kvstore_uptime_seconds", "gauge", "server", "uptime_in_seconds",
     "Seconds since the server started."),
    ("kvstore_connected_clients", "gauge", "clients", "connected_clients",
     "Client connections open now."),
    ("kvstore_connections_received_total", "counter", "stats", "total_connections_received",
     "Client connections accepted."),
    ("kvstore_keyspace_hits_total", "counter", "stats", "keyspace_hits",
     "Reads that found their key."),
    ("kvstore_keyspace_misses_total", "counter", "stats", "keyspace_misses",
     "Reads that did not find their key."),
    ("kvstore_expired_keys_total", "counter", "stats", "expired_keys",
     "Keys removed because they expired."),
    ("kvstore_evicted_keys_total", "counter", "stats", "evicted_keys",
     "Keys removed to stay within maxmemory."),
    ("kvstore_memory_used_bytes", "gauge", "memory", "used_memory",
     "Estimated size of the keys and values, and of the clients' buffers."),
    ("kvstore_memory_rss_bytes", "gauge", "memory", "used_memory_rss",
     "Resident set size of the server process (0: unknown)."),
    ("kvstore_persistence_enabled", "gauge", "persistence", "aof_enabled",
     "1 when writes go to the append-only log."),
    ("kvstore_persistence_log_size_bytes", "gauge", "persistence", "aof_current_size",
     "Size of the snapshot and append-only log files."),
    ("kvstore_persistence_rewrite_in_progress", "gauge", "persistence",
     "aof_rewrite_in_progress", "1 while a snapshot or log compaction runs."),
    ("kvstore_persistence_last_save_timestamp_seconds", "gauge", "persistence",
     "rdb_last_save_time", "Unix time of the last good snapshot."),
    ("kvstore_persistence_changes_since_last_save", "gauge", "persistence",
     "rdb_changes_since_last_save", "Writes since the last snapshot."),
)  # fmt: skip


def render_metrics(state: ServerState, session: Session) -> str:
    """The page for ``state``; ``session`` is the metrics endpoint's own (the INFO providers
    take one), registered with no connection."""
    sections = {
        name: section_fields(session, name)
        for name in ("server", "clients", "memory", "stats", "persistence", "cpu")
    }
    page = Exposition()
    server = sections["server"]
    labels = {
        "version": VERSION,
        "redis_version": str(server.get("redis_version", "")),
        "python_version": str(server.get("python_version", "")),
    }
    page.add("kvstore_build_info", "gauge", "Always 1; the labels say what runs.", [(labels, 1)])
    for name, kind, section, field, help in SIMPLE_FIGURES:
        page.one(name, kind, help, _int(sections[section], field))
    write_ok = sections["persistence"].get("aof_last_write_status", "ok") == "ok"
    page.one(
        "kvstore_persistence_last_write_ok",
        "gauge",
        "1 when the last write to the append-only log succeeded.",
        int(write_ok),
    )
    keyspace = _keyspace(session)
    page.one("kvstore_keys", "gauge", "Keys in the table.", keyspace.get("keys", 0))
    page.one(
        "kvstore_keys_with_expiry", "gauge", "Keys with a time to live.", keyspace.get("expires", 0)
    )
    cpu = sections["cpu"]
    page.add(
        "kvstore_cpu_seconds_total",
        "counter",
        "CPU time used by the server process.",
        [
            ({"mode": "system"}, float(cpu["used_cpu_sys"])),
            ({"mode": "user"}, float(cpu["used_cpu_user"])),
        ],
    )
    slowlog = len(state.stats.slowlog.entries)
    page.one("kvstore_slowlog_length", "gauge", "Entries in the slow log.", slowlog)
    _replication(page, section_fields(session, "replication"))
    _commands(page, state)
    return page.text()


def _replication(page: Exposition, fields: Mapping[str, str | int]) -> None:
    """Replication as INFO replication shows it: the offset, and each replica's lag."""
    offset = _int(fields, "master_repl_offset")
    page.one(
        "kvstore_replication_is_replica",
        "gauge",
        "1 on a replica, 0 on a primary.",
        int(fields.get("role") == "slave"),
    )
    page.one(
        "kvstore_replication_offset_bytes",
        "gauge",
        "Bytes of the replication stream this node wrote or applied (master_repl_offset).",
        offset,
    )
    replicas_attached = _int(fields, "connected_slaves")
    page.one("kvstore_connected_replicas", "gauge", "Replicas attached.", replicas_attached)
    if fields.get("role") == "slave":
        page.one(
            "kvstore_replication_link_up",
            "gauge",
            "1 while the link to the primary is up.",
            int(fields.get("master_link_status") == "up"),
        )
    replicas = []
    for name, value in fields.items():
        if name.startswith("slave") and name[5:].isdigit():
            parts = dict(part.split("=", 1) for part in str(value).split(","))
            replicas.append(parts)
    page.add(
        "kvstore_replica_lag_bytes",
        "gauge",
        "Bytes of the stream a replica has not acknowledged yet, by replica.",
        [
            ({"replica": f"{r['ip']}:{r['port']}"}, max(offset - int(r["offset"]), 0))
            for r in replicas
        ],
    )
    page.add(
        "kvstore_replica_lag_seconds",
        "gauge",
        "Seconds since a replica last acknowledged, by replica.",
        [({"replica": f"{r['ip']}:{r['port']}"}, int(r["lag"])) for r in replicas],
    )


def _commands(page: Exposition, state: ServerState) -> None:
    figures = command_figures(state)
    per_command = (
        ("processed", "Commands run", "calls"),
        ("rejected", "Commands refused before running (arity, authentication...)",
         "rejected_calls"),
        ("failed", "Commands that ran and answered an error", "failed_calls"),
    )  # fmt: skip
    for what, help, attribute in per_command:
        page.add(
            f"kvstore_commands_{what}_total",
            "counter",
            f"{help}, by command.",
            [({"command": f.name}, int(getattr(f, attribute))) for f in figures],
        )
    page.add(
        "kvstore_commands_duration_seconds_total",
        "counter",
        "Time spent running commands, by command.",
        [({"command": f.name}, f.usec / 1e6) for f in figures],
    )
    page.add(
        "kvstore_error_replies_total",
        "counter",
        "Error replies, by error code.",
        [({"code": code}, count) for code, count in error_figures(state).items()],
    )


def page_of(state: ServerState) -> Callable[[], str]:
    """A function rendering the page for ``state`` afresh at each call."""
    session = Session(state, addr="metrics")  # INFO providers take a session; this one serves none
    return lambda: render_metrics(state, session)
