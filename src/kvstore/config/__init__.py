"""The server's configuration: one dataclass, the single source of every option.

:mod:`kvstore.config.options` holds :class:`ServerConfig` (each option with its flag, variable,
TOML key and default) and :func:`load_config`; beside it, :mod:`~kvstore.config.file` reads the
``--config`` TOML file, :mod:`~kvstore.config.security` settles the password and checks TLS,
:mod:`~kvstore.config.runtime` applies ``CONFIG SET`` and :mod:`~kvstore.config.docs` writes
docs/config.md. The names every layer uses are importable from here.
"""

from kvstore.config.options import (
    PASSWORD_MASK,
    ConfigError,
    OutputLimit,
    ServerConfig,
    build_parser,
    convert_setting,
    field_by_name,
    load_config,
    parse_output_limit,
    parse_size,
    wants_version,
)
from kvstore.config.runtime import RuntimeConfig, SettingRefusedError, UnknownSettingError

__all__ = [
    "PASSWORD_MASK",
    "ConfigError",
    "OutputLimit",
    "RuntimeConfig",
    "ServerConfig",
    "SettingRefusedError",
    "UnknownSettingError",
    "build_parser",
    "convert_setting",
    "field_by_name",
    "load_config",
    "parse_output_limit",
    "parse_size",
    "wants_version",
]
