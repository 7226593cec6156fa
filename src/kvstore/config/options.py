"""The server's configuration: one dataclass, the single source of every option.

Each field's metadata gives its help text (and choices); the command-line flag (``--log-level``)
and the environment variable (``KVSTORE_LOG_LEVEL``) are derived from the field's name.
Precedence: flag, then environment, then the ``--config`` TOML file, then default. A field
marked ``runtime=True`` can be changed while the server runs (``CONFIG SET``); the server applies
the change through the hooks of :mod:`kvstore.config.runtime`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kvstore.config.events import normalize_flags
from kvstore.config.file import as_text, read_toml
from kvstore.config.security import (
    PASSWORD_ENV,
    check_tls,
    read_password_file,
    resolve_password,
)
from kvstore.keyspace_policies import MAXMEMORY_POLICIES

ENV_PREFIX = "KVSTORE_"
#: What ``CONFIG GET requirepass`` shows when a password is set.
PASSWORD_MASK = "********"


class ConfigError(Exception):
    """A bad option or value; the message is one line for the user."""


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``latency-tracking-info-percentiles``: numbers from 0 to 100 (Redis's errors)."""
    try:
        values = tuple(float(word) for word in text.split())
    except ValueError:
        raise ConfigError("Invalid latency-tracking-info-percentiles parameters") from None
    if any(not 0.0 <= value <= 100.0 for value in values):
        raise ConfigError(
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        )
    return values


def format_percentile(value: float) -> str:
    """As Redis writes a percentile: no trailing zeros (50, 99.9)."""
    return f"{value:f}".rstrip("0").rstrip(".")


def normalize_percentiles(text: str) -> str:
    return " ".join(format_percentile(value) for value in parse_percentiles(text))


def _option(
    help: str,
    *,
    choices: Sequence[str] | None = None,
    runtime: bool = False,
    in_file: bool = True,
    size: bool = False,
    normalize: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """A field's metadata: its help, its choices, whether ``CONFIG SET`` may change it (runtime),
    whether the TOML file may set it (in_file), whether it reads as a size (``100mb``) and, for
    text in a syntax of its own, the function that checks it and writes it the one way
    (``ValueError`` saying what is wrong)."""
    return {
        "help": help,
        "choices": choices,
        "runtime": runtime,
        "in_file": in_file,
        "size": size,
        "normalize": normalize,
    }


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def parse_size(raw: str) -> int:
    """A byte count as Redis's configuration reads it: ``100mb``, ``1gb``, ``64kb``, ``1g``
    (``k``/``m``/``g`` are powers of 1000, ``kb``/``mb``/``gb`` of 1024; any case)."""
    text = raw.strip().lower()
    digits = text.rstrip("bkmg")
    unit = _SIZE_UNITS.get(text[len(digits) :])
    if unit is None or not digits.isdigit():
        raise ValueError(raw)
    return int(digits) * unit


@dataclass(frozen=True)
class OutputLimit:
    """``client-output-buffer-limit`` for normal clients: disconnect one whose unsent output
    passes ``hard`` bytes, or stays over ``soft`` bytes for more than ``soft_seconds`` (0: no
    such limit)."""

    hard: int
    soft: int
    soft_seconds: int


#: Client classes of Redis's syntax: ``normal`` clients, and ``pubsub`` ones (subscribed to a
#: channel or pattern); replicas do not exist here, their class is accepted (a configuration
#: written for Redis loads) and ignored.
_CLIENT_CLASSES = ("normal", "replica", "slave", "pubsub")
#: Redis's default for subscribers, when the setting names no ``pubsub`` class.
DEFAULT_PUBSUB_LIMIT = OutputLimit(32 * 1024 * 1024, 8 * 1024 * 1024, 60)


def parse_output_limit(text: str) -> OutputLimit:
    """Redis's ``<class> <hard> <soft> <soft-seconds>`` (repeated per class), or a bare size as
    the hard limit of normal clients."""
    return parse_output_limits(text)[0]


def parse_pubsub_output_limit(text: str) -> OutputLimit:
    """The ``pubsub`` class of the setting (Redis's default if it names none)."""
    return parse_output_limits(text)[1]


def parse_output_limits(text: str) -> tuple[OutputLimit, OutputLimit]:
    """The ``normal`` and ``pubsub`` classes of the setting."""
    words = text.split()
    syntax = "expected 'normal <hard> <soft> <soft-seconds>' or a size"
    if len(words) == 1:
        try:
            return OutputLimit(parse_size(words[0]), 0, 0), DEFAULT_PUBSUB_LIMIT
        except ValueError:
            raise ValueError(syntax) from None
    if not words or len(words) % 4:
        raise ValueError(syntax)
    found: OutputLimit | None = None
    pubsub = DEFAULT_PUBSUB_LIMIT
    for start in range(0, len(words), 4):
        kind, hard, soft, seconds = words[start : start + 4]
        if kind.lower() not in _CLIENT_CLASSES:
            raise ValueError(f"unknown client class {kind!r}")
        try:
            limit = OutputLimit(parse_size(hard), parse_size(soft), int(seconds))
        except ValueError:
            raise ValueError(f"bad limits for {kind}: {hard} {soft} {seconds}") from None
        if limit.soft_seconds < 0:
            raise ValueError(f"bad limits for {kind}: {hard} {soft} {seconds}")
        if kind.lower() == "normal":
            found = limit
        elif kind.lower() == "pubsub":
            pubsub = limit
    if found is None:
        raise ValueError("no limit given for the normal class")
    return found, pubsub


def parse_replicaof(text: str) -> tuple[str, int] | None:
    """``HOST PORT`` or ``HOST:PORT`` (``[v6]:PORT``) as (host, port); None for empty text."""
    text = text.strip()
    if not text:
        return None
    words = text.split()
    if len(words) == 1:
        host, _, port = text.rpartition(":")
        words = [host.strip("[]"), port]
    if len(words) != 2 or not words[0] or not words[1].isdigit():
        raise ValueError("expected 'HOST PORT'")
    port_number = int(words[1])
    if not 0 < port_number < 65536:
        raise ValueError("the port is out of range (1-65535)")
    return words[0], port_number


def normalize_replicaof(text: str) -> str:
    parsed = parse_replicaof(text)
    return "" if parsed is None else f"{parsed[0]} {parsed[1]}"


def normalize_output_limit(text: str) -> str:
    """The setting as ``CONFIG GET`` shows it: ``normal <hard> <soft> <seconds> pubsub <hard>
    <soft> <seconds>``, in bytes."""
    normal, pubsub = parse_output_limits(text)
    return (
        f"normal {normal.hard} {normal.soft} {normal.soft_seconds} "
        f"pubsub {pubsub.hard} {pubsub.soft} {pubsub.soft_seconds}"
    )


@dataclass
class ServerConfig:
    bind: list[str] = field(
        default_factory=lambda: ["127.0.0.1"],
        metadata=_option(
            "addresses to listen on (several allowed; in the environment, "
            "separated by spaces or commas)"
        ),
    )
    port: int = field(default=5000, metadata=_option("TCP port to listen on"))
    log_level: str = field(
        default="info",
        metadata=_option(
            "least severe log level shown",
            choices=("debug", "info", "warning", "error"),
            runtime=True,
        ),
    )
    event_loop: str = field(
        default="auto",
        metadata=_option(
            "event loop: uvloop when installed (auto), or force one",
            choices=("auto", "asyncio", "uvloop"),
        ),
    )
    parser: str = field(
        default="auto",
        metadata=_option(
            "RESP parser (auto): kvstore's own, compiled, in the compiled build; else hiredis "
            "when installed; or force one (python: kvstore's own, in either build)",
            choices=("auto", "python", "hiredis"),
        ),
    )
    inline_replies: str = field(
        default="text",
        metadata=_option(
            "how the plain port answers a connection whose first request is a line of words "
            "(PING, get k): in the text line protocol, or in RESP as Redis does (a connection "
            "that starts in RESP always gets RESP)",
            choices=("text", "resp"),
        ),
    )
    tls_inline_replies: str = field(
        default="text",
        metadata=_option("the same for the TLS port", choices=("text", "resp")),
    )
    databases: int = field(
        default=16,
        metadata=_option("number of databases (SELECT 0 to databases-1)"),
    )
    pure: bool = field(
        default=False,
        metadata=_option(
            "run the pure-Python build even where the compiled one is installed (docs/builds.md)"
        ),
    )
    # -- access control (see docs/security.md) --
    requirepass: str = field(
        default="",
        metadata=_option(
            "password clients must give (AUTH) before other commands; KVSTORE_PASSWORD is read too",
            runtime=True,
        ),
    )
    requirepass_file: str = field(
        default="", metadata=_option("read the password from the first line of this file")
    )
    protected_mode: str = field(
        default="yes",
        metadata=_option(
            "with no password set, refuse clients that are not on the loopback interface",
            choices=("yes", "no"),
            runtime=True,
        ),
    )
    tls_port: int = field(
        default=0, metadata=_option("TCP port for TLS connections (0: no TLS listener)")
    )
    tls_cert_file: str = field(default="", metadata=_option("the server's certificate (PEM)"))
    tls_key_file: str = field(default="", metadata=_option("the server's private key (PEM)"))
    tls_ca_cert_file: str = field(
        default="",
        metadata=_option("CA certificates (PEM); when given, TLS clients must present one"),
    )
    # -- persistence (see docs/persistence.md) --
    dir: str = field(
        default="./data", metadata=_option("directory of the append-only log and snapshot")
    )
    no_persist: bool = field(
        default=False, metadata=_option("keep data in memory only: no log, no snapshot")
    )
    appendfsync: str = field(
        default="everysec",
        metadata=_option(
            "when the log is fsynced: before each reply (always), about once a second "
            "(everysec), or when the OS decides (no)",
            choices=("always", "everysec", "no"),
            runtime=True,
        ),
    )
    auto_aof_rewrite_percentage: int = field(
        default=100,
        metadata=_option(
            "compact the log when it grew by this percentage since the last time", runtime=True
        ),
    )
    auto_aof_rewrite_min_size: int = field(
        default=64 * 1024 * 1024,
        metadata=_option("and only once the files total at least this many bytes", runtime=True),
    )
    # -- operations (see docs/deploy.md and docs/config.md) --
    config: str = field(
        default="",
        metadata=_option(
            "read options from this TOML file (keys named like the options; flags and the "
            "environment win over it)",
            in_file=False,
        ),
    )
    log_format: str = field(
        default="text",
        metadata=_option(
            "log lines as text, or as one JSON object per line (time, level, logger, message)",
            choices=("text", "json"),
        ),
    )

    # -- limits (docs/security.md, "Limits") ------------------------------------------------
    maxclients: int = field(
        default=10000,
        metadata=_option(
            "most clients connected at once; lowered to what the open-files limit allows",
            runtime=True,
        ),
    )
    timeout: int = field(
        default=0,
        metadata=_option("close a client idle for this many seconds (0: never)", runtime=True),
    )
    proto_max_bulk_len: int = field(
        default=512 * 1024 * 1024,
        metadata=_option("largest RESP bulk string (argument) accepted", size=True, runtime=True),
    )
    proto_max_args: int = field(
        default=1024 * 1024, metadata=_option("most arguments in one RESP request")
    )
    client_query_buffer_limit: int = field(
        default=1024 * 1024 * 1024,
        metadata=_option(
            "most bytes of one unfinished request a client may send", size=True, runtime=True
        ),
    )
    client_output_buffer_limit: str = field(
        default="normal 268435456 67108864 60 pubsub 33554432 8388608 60",
        metadata=_option(
            "disconnect a client whose unread replies pass <hard> bytes, or stay over <soft> "
            "bytes for more than <soft-seconds>, as 'normal <hard> <soft> <soft-seconds>' "
            "(sizes like 256mb; 0: no such limit), and 'pubsub ...' for subscribed clients "
            "(default 32mb 8mb 60); a bare size sets the normal hard limit alone",
            runtime=True,
            normalize=normalize_output_limit,
        ),
    )
    notify_keyspace_events: str = field(
        default="",
        metadata=_option(
            "publish keyspace notifications for these event classes, in Redis's letters "
            "(K keyspace channel, E keyevent channel, g generic, $ string, x expired, "
            "e evicted, n new, m key miss, A for g$lshzxetd; empty: off), e.g. KEA",
            runtime=True,
            normalize=normalize_flags,
        ),
    )
    tracking_table_max_keys: int = field(
        default=1_000_000,
        metadata=_option(
            "most keys remembered for clients' CLIENT TRACKING (past it, keys are forgotten "
            "and their readers told to drop them; 0: no limit)",
            runtime=True,
        ),
    )
    maxmemory: int = field(
        default=0,
        metadata=_option(
            "memory limit for the process, as 100mb or 1gb (0: none; CONFIG SET can change it "
            "only on a server started with one)",
            size=True,
            runtime=True,
        ),
    )
    maxmemory_policy: str = field(
        default="noeviction",
        metadata=_option(
            "what a write does at the memory limit: refuse it, or evict keys first",
            choices=MAXMEMORY_POLICIES,
            runtime=True,
        ),
    )
    # -- observability (see docs/observability.md) --
    slowlog_log_slower_than: int = field(
        default=10_000,
        metadata=_option(
            "log commands that run at least this many microseconds in the slow log "
            "(0: every command; negative: none)",
            runtime=True,
        ),
    )
    slowlog_max_len: int = field(
        default=128,
        metadata=_option("entries the slow log keeps (the oldest are dropped)", runtime=True),
    )
    latency_monitor_threshold: int = field(
        default=0,
        metadata=_option(
            "record events (commands, expiry and eviction cycles, log fsyncs) that take at "
            "least this many milliseconds, for LATENCY LATEST/HISTORY/DOCTOR (0: off)",
            runtime=True,
        ),
    )
    latency_tracking: str = field(
        default="yes",
        metadata=_option(
            "keep a histogram of each command's run times (LATENCY HISTOGRAM, INFO latencystats)",
            choices=("yes", "no"),
            runtime=True,
        ),
    )
    latency_tracking_info_percentiles: str = field(
        default="50 99 99.9",
        metadata=_option(
            "the percentiles INFO latencystats shows, space-separated, each 0 to 100",
            runtime=True,
            normalize=normalize_percentiles,
        ),
    )
    metrics_port: int = field(
        default=0,
        metadata=_option("serve Prometheus metrics over HTTP on this port (0: off)"),
    )
    metrics_bind: str = field(
        default="127.0.0.1", metadata=_option("address the metrics endpoint listens on")
    )
    # -- cluster mode (see docs/cluster.md) --
    cluster_enabled: bool = field(
        default=False,
        metadata=_option(
            "cluster mode: keys live in 16384 slots, clients are redirected (MOVED, ASK) to the "
            "node serving a key's slot, only database 0"
        ),
    )
    cluster_topology_file: str = field(
        default="",
        metadata=_option(
            "in cluster mode, a JSON topology document naming the shards, their slot ranges "
            "and members (empty: this node alone serves every slot)"
        ),
    )
    cluster_node_id: str = field(
        default="",
        metadata=_option(
            "in cluster mode, this node's ID (40 hexadecimal digits), as the topology names it "
            "(empty: kept in --dir, made up on the first start)"
        ),
    )
    cluster_announce_hostname: str = field(
        default="",
        metadata=_option(
            "in cluster mode, the host name the topology gives this node (e.g. a Kubernetes "
            "pod's stable DNS name): without --cluster-node-id, the node is the member with "
            "this host and its port"
        ),
    )
    cluster_announce_port: int = field(
        default=0,
        metadata=_option(
            "in cluster mode, the port the topology gives this node, where clients reach it "
            "through a mapped port (0: the port it listens on)"
        ),
    )
    cluster_etcd_endpoints: list[str] = field(
        default_factory=list,
        metadata=_option(
            "in cluster mode, etcd members (host:port, several allowed) holding the topology "
            "and the shards' leader keys, instead of --cluster-topology-file"
        ),
    )
    cluster_name: str = field(
        default="kvstore",
        metadata=_option("in cluster mode on etcd, the cluster's name: its keys' prefix"),
    )
    cluster_sync_replicas: int = field(
        default=1,
        metadata=_option(
            "in cluster mode on etcd, 1: a write is answered once a replica that may take over "
            "holds it; 0: writes never wait, and a replica taking over may lack the latest "
            "(see docs/cluster.md)"
        ),
    )

    # -- replication (see docs/replication.md) --
    replicaof: str = field(
        default="",
        metadata=_option(
            "follow the primary at 'HOST PORT' (or HOST:PORT) from start-up; REPLICAOF "
            "changes it while running",
            normalize=normalize_replicaof,
        ),
    )
    masterauth: str = field(
        default="",
        metadata=_option("password this node gives its primary (AUTH)", runtime=True),
    )
    masterauth_file: str = field(
        default="", metadata=_option("read masterauth from the first line of this file")
    )
    tls_replication: str = field(
        default="no",
        metadata=_option(
            "connect to the primary with TLS (its --tls-port; this node's TLS files are used)",
            choices=("yes", "no"),
        ),
    )
    repl_backlog_size: int = field(
        default=1024 * 1024,
        metadata=_option(
            "bytes of the replication stream kept, so a replica that lost its link for less "
            "than that continues without a full copy",
            runtime=True,
            size=True,
        ),
    )
    replica_read_only: str = field(
        default="yes",
        metadata=_option(
            "a replica refuses writes from clients (READONLY)", choices=("yes", "no"), runtime=True
        ),
    )
    replica_serve_stale_data: str = field(
        default="yes",
        metadata=_option(
            "a replica whose link is down (or still copying) answers reads from the data it "
            "has (yes) or refuses them (MASTERDOWN)",
            choices=("yes", "no"),
            runtime=True,
        ),
    )
    min_replicas_to_write: int = field(
        default=0,
        metadata=_option(
            "refuse writes (NOREPLICAS) unless this many replicas acknowledged within "
            "min-replicas-max-lag seconds (0: never refuse)",
            runtime=True,
        ),
    )
    sync_replicas: list[str] = field(
        default_factory=list,
        metadata=_option(
            "hold each write's reply until one of these replicas (ip:port as INFO shows it, "
            "or an announced node ID; several allowed) acknowledged it (empty: reply at once; "
            "in cluster mode on etcd the cluster sets this itself)",
            runtime=True,
        ),
    )
    min_replicas_max_lag: int = field(
        default=10,
        metadata=_option("seconds since a replica's last acknowledgement", runtime=True),
    )
    repl_timeout: int = field(
        default=60,
        metadata=_option(
            "seconds of silence after which a replication link is dropped", runtime=True
        ),
    )
    repl_ping_replica_period: int = field(
        default=10,
        metadata=_option("seconds between the primary's PINGs to its replicas", runtime=True),
    )

    @staticmethod
    def env_name(name: str) -> str:
        return ENV_PREFIX + name.upper()

    @staticmethod
    def flag_name(name: str) -> str:
        return "--" + name.replace("_", "-")

    def settings(self) -> dict[str, str]:
        """Every option as text, by its Redis-style name, for ``CONFIG GET``."""
        shown: dict[str, str] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            text = " ".join(value) if isinstance(value, list) else str(value)
            if isinstance(value, bool):
                text = "yes" if value else "no"
            shown[item.name.replace("_", "-")] = text
        if self.requirepass:  # never shown: whether one is set is all a client learns
            shown["requirepass"] = PASSWORD_MASK
        if self.masterauth:
            shown["masterauth"] = PASSWORD_MASK
        shown["appendonly"] = "no" if self.no_persist else "yes"
        shown["dir"] = os.path.abspath(self.dir)
        # What redis-benchmark and other tools ask about at start-up.
        shown.setdefault("save", "")
        shown.setdefault("appendonly", "no")
        # kvstore never forks into the background (a service manager runs it); Redis's
        # immutable setting says so (kvstore.config.runtime.IMMUTABLE).
        shown["daemonize"] = "no"
        return shown


def _is_node_id(text: str) -> bool:
    return len(text) == 40 and all(char in "0123456789abcdef" for char in text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


_BOOLEANS = {"1": True, "yes": True, "true": True, "on": True}
_BOOLEANS.update({"0": False, "no": False, "false": False, "off": False})


def _convert(item: dataclasses.Field[Any], raw: str, source: str) -> Any:
    kind = type(item.default) if item.default is not dataclasses.MISSING else list
    if isinstance(item.default, bool):
        if raw.lower() not in _BOOLEANS:
            raise ConfigError(f"{source}: expected yes or no, got {raw!r}")
        return _BOOLEANS[raw.lower()]
    if kind is list:
        return [part for part in raw.replace(",", " ").split() if part]
    if kind is int and item.metadata.get("size"):
        try:
            return parse_size(raw)
        except ValueError:
            raise ConfigError(
                f"{source}: expected a size in bytes (like 1048576, 100mb or 1gb), got {raw!r}"
            ) from None
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{source}: expected an integer, got {raw!r}") from None
    choices = item.metadata.get("choices")
    if choices and raw not in choices:
        raise ConfigError(f"{source}: expected one of {', '.join(choices)}, got {raw!r}")
    normalize = item.metadata.get("normalize")
    if normalize is not None:
        try:
            return normalize(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}, got {raw!r}") from None
    return raw


def _shown_default(item: dataclasses.Field[Any]) -> str:
    """``default: X; `` for --help, or nothing for a switch or an empty default."""
    default = item.default
    if item.default_factory is not dataclasses.MISSING:
        default = item.default_factory()
    if isinstance(default, bool) or default in ("", []):
        return ""
    text = " ".join(default) if isinstance(default, list) else str(default)
    return f"default: {text}; "


def build_parser(prog: str = "kvstore-server") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="kvstore server: an in-memory key/value store speaking RESP and a text "
        "line protocol on one port.",
        argument_default=argparse.SUPPRESS,
    )
    for item in dataclasses.fields(ServerConfig):
        env = ServerConfig.env_name(item.name)
        help_text = f"{item.metadata['help']} ({_shown_default(item)}env {env})"
        flag = ServerConfig.flag_name(item.name)
        if item.default is dataclasses.MISSING:  # a list
            parser.add_argument(flag, nargs="+", metavar="ADDRESS", help=help_text)
        elif isinstance(item.default, bool):  # a switch: --no-persist
            parser.add_argument(flag, action="store_const", const="yes", help=help_text)
        elif isinstance(item.default, int):
            parser.add_argument(flag, type=str, metavar="N", help=help_text)
        else:
            parser.add_argument(
                flag, type=str, choices=item.metadata.get("choices"), help=help_text
            )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """Build the configuration from flags and environment; raise ConfigError when invalid."""
    environ = os.environ if environ is None else environ
    flags = vars(build_parser().parse_args(sys.argv[1:] if argv is None else argv))
    values: dict[str, Any] = {}
    from_file = _file_values(flags.get("config") or environ.get(ServerConfig.env_name("config")))
    if environ.get(PASSWORD_ENV):  # the environment's password beats the file's
        from_file.pop("requirepass", None)
        from_file.pop("requirepass_file", None)
    for item in dataclasses.fields(ServerConfig):
        env_name = ServerConfig.env_name(item.name)
        if item.name in flags:
            raw = flags[item.name]
            if isinstance(raw, list):
                values[item.name] = [
                    part
                    for value in raw
                    for part in _convert(item, value, ServerConfig.flag_name(item.name))
                ]
            else:
                values[item.name] = _convert(item, raw, ServerConfig.flag_name(item.name))
        elif environ.get(env_name, "") != "":
            values[item.name] = _convert(item, environ[env_name], env_name)
        elif item.name in from_file:
            values[item.name] = from_file[item.name]
    config = ServerConfig(**values)
    if not 1 <= config.databases <= 1_000_000:
        raise ConfigError(f"databases {config.databases} is out of range (1-1000000)")
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"port {config.port} is out of range (0-65535)")
    if not 0 <= config.metrics_port <= 65535:
        raise ConfigError(f"metrics port {config.metrics_port} is out of range (0-65535)")
    if config.slowlog_max_len < 0:
        raise ConfigError("--slowlog-max-len cannot be negative")
    if not 0 <= config.cluster_announce_port <= 65535:
        raise ConfigError(
            f"cluster announce port {config.cluster_announce_port} is out of range (0-65535)"
        )
    if config.cluster_node_id and not _is_node_id(config.cluster_node_id):
        raise ConfigError("--cluster-node-id must be 40 lower-case hexadecimal digits")
    if config.cluster_sync_replicas not in (0, 1):
        raise ConfigError("--cluster-sync-replicas must be 0 or 1")
    if config.cluster_etcd_endpoints and config.cluster_topology_file:
        raise ConfigError("give --cluster-etcd-endpoints or --cluster-topology-file, not both")
    try:
        config.requirepass, config.requirepass_file = resolve_password(
            config.requirepass, config.requirepass_file, flags, environ
        )
        check_tls(config.port, config.tls_port, config.tls_cert_file, config.tls_key_file)
        if config.masterauth_file:
            config.masterauth = read_password_file(config.masterauth_file, "--masterauth-file")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not config.bind:
        raise ConfigError("no address to listen on")
    _check_limits(config)
    return config


def _file_values(path: str | None) -> dict[str, Any]:
    """The options set in the TOML file at ``path`` (none without one), checked and converted."""
    if not path:
        return {}
    try:
        table = read_toml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    fields = {item.name: item for item in dataclasses.fields(ServerConfig)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        item = fields.get(key.replace("-", "_"))
        if item is None or not item.metadata["in_file"]:
            raise ConfigError(f"{path}: unknown option {key!r}")
        text = as_text(value)
        if text is None:
            raise ConfigError(f"{path}: {key}: unsupported value {value!r}")
        values[item.name] = _convert(item, text, f"{path}: {key}")
    return values


def field_by_name(name: str) -> dataclasses.Field[Any] | None:
    """The field a setting's name (dashes or underscores) refers to, if any."""
    for item in dataclasses.fields(ServerConfig):
        if item.name == name.replace("-", "_"):
            return item
    return None


def convert_setting(item: dataclasses.Field[Any], raw: str) -> Any:
    """``raw`` as the value of ``item`` (``ConfigError`` saying why it is not one)."""
    return _convert(item, raw, ServerConfig.flag_name(item.name))


def _check_limits(config: ServerConfig) -> None:
    """Refuse limits that would make the server unusable (zero clients, negative sizes)."""
    if config.maxclients < 1:
        raise ConfigError(f"--maxclients must be at least 1, got {config.maxclients}")
    if config.timeout < 0:
        raise ConfigError(f"--timeout must be 0 (never) or more seconds, got {config.timeout}")
    if config.proto_max_bulk_len < 1024 * 1024:
        raise ConfigError("--proto-max-bulk-len must be at least 1mb")
    if config.proto_max_args < 1024:
        raise ConfigError("--proto-max-args must be at least 1024")
    if config.client_query_buffer_limit < 1024 * 1024:
        raise ConfigError("--client-query-buffer-limit must be at least 1mb")


def wants_version(argv: Sequence[str] | None = None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--version" in args
