"""The server's configuration: one dataclass, the single source of every option.

Each field's metadata gives its help text (and choices); the command-line flag (``--log-level``)
and the environment variable (``KVSTORE_LOG_LEVEL``) are derived from the field's name.
Precedence: flag, then environment, then default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kvstore.config_security import resolve_security

ENV_PREFIX = "KVSTORE_"
#: What ``CONFIG GET requirepass`` shows when a password is set.
PASSWORD_MASK = "********"


class ConfigError(Exception):
    """A bad option or value; the message is one line for the user."""


def _option(help: str, *, choices: Sequence[str] | None = None) -> dict[str, Any]:
    return {"help": help, "choices": choices}


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
            "least severe log level shown", choices=("debug", "info", "warning", "error")
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
            "RESP parser: hiredis when installed (auto), or force one",
            choices=("auto", "python", "hiredis"),
        ),
    )
    # -- access control (see docs/security.md) --
    requirepass: str = field(
        default="",
        metadata=_option(
            "password clients must give (AUTH) before other commands; KVSTORE_PASSWORD is read too"
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
        ),
    )
    auto_aof_rewrite_percentage: int = field(
        default=100,
        metadata=_option("compact the log when it grew by this percentage since the last time"),
    )
    auto_aof_rewrite_min_size: int = field(
        default=64 * 1024 * 1024,
        metadata=_option("and only once the files total at least this many bytes"),
    )
    # -- observability (see docs/observability.md) --
    slowlog_log_slower_than: int = field(
        default=10_000,
        metadata=_option(
            "log commands that run at least this many microseconds in the slow log "
            "(0: every command; negative: none)"
        ),
    )
    slowlog_max_len: int = field(
        default=128, metadata=_option("entries the slow log keeps (the oldest are dropped)")
    )
    metrics_port: int = field(
        default=0,
        metadata=_option("serve Prometheus metrics over HTTP on this port (0: off)"),
    )
    metrics_bind: str = field(
        default="127.0.0.1", metadata=_option("address the metrics endpoint listens on")
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
        shown["appendonly"] = "no" if self.no_persist else "yes"
        shown["dir"] = os.path.abspath(self.dir)
        # What redis-benchmark and other tools ask about at start-up.
        shown.setdefault("save", "")
        shown.setdefault("appendonly", "no")
        return shown


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
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{source}: expected an integer, got {raw!r}") from None
    choices = item.metadata.get("choices")
    if choices and raw not in choices:
        raise ConfigError(f"{source}: expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def build_parser(prog: str = "kvstore-server") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="kvstore server: an in-memory key/value store speaking RESP and a text "
        "line protocol on one port.",
        argument_default=argparse.SUPPRESS,
    )
    for item in dataclasses.fields(ServerConfig):
        help_text = f"{item.metadata['help']} (env {ServerConfig.env_name(item.name)})"
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
    config = ServerConfig(**values)
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"port {config.port} is out of range (0-65535)")
    if not 0 <= config.metrics_port <= 65535:
        raise ConfigError(f"metrics port {config.metrics_port} is out of range (0-65535)")
    if config.slowlog_max_len < 0:
        raise ConfigError("--slowlog-max-len cannot be negative")
    try:
        resolve_security(config, flags, environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not config.bind:
        raise ConfigError("no address to listen on")
    return config


def wants_version(argv: Sequence[str] | None = None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--version" in args
