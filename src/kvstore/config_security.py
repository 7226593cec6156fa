"""Checks and derived values for the access-control options: the password and TLS.

A leaf beside :mod:`kvstore.config`, which calls :func:`resolve_security` once the flags and
the environment are read; a problem is raised as ``ValueError`` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvstore.config import ServerConfig

#: Read when neither ``--requirepass`` nor ``--requirepass-file`` (nor their variables) is set:
#: the name the command-line client reads its password from, so one variable serves both.
PASSWORD_ENV = "KVSTORE_PASSWORD"


def resolve_security(
    config: ServerConfig, flags: Mapping[str, Any], environ: Mapping[str, str]
) -> None:
    """Settle the password's source (a flag beats the environment) and check TLS options."""
    _resolve_password(config, flags, environ)
    _check_tls(config)


def _resolve_password(
    config: ServerConfig, flags: Mapping[str, Any], environ: Mapping[str, str]
) -> None:
    from_flag, file_from_flag = "requirepass" in flags, "requirepass_file" in flags
    if from_flag and file_from_flag:
        raise ValueError("give --requirepass or --requirepass-file, not both")
    if from_flag:
        config.requirepass_file = ""  # a file named in the environment loses to the flag
    elif file_from_flag:
        config.requirepass = ""
    elif config.requirepass and config.requirepass_file:
        raise ValueError("set KVSTORE_REQUIREPASS or KVSTORE_REQUIREPASS_FILE, not both")
    elif not config.requirepass and not config.requirepass_file:
        config.requirepass = environ.get(PASSWORD_ENV, "")
    if config.requirepass_file:
        config.requirepass = read_password_file(config.requirepass_file)


def read_password_file(path: str) -> str:
    """The first line of ``path``, without its line ending."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--requirepass-file: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"--requirepass-file: {path} is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ValueError(f"--requirepass-file: the first line of {path} is empty")
    return lines[0]


def _check_tls(config: ServerConfig) -> None:
    if not 0 <= config.tls_port <= 65535:
        raise ValueError(f"TLS port {config.tls_port} is out of range (0-65535)")
    if config.tls_port and not (config.tls_cert_file and config.tls_key_file):
        raise ValueError("--tls-port needs --tls-cert-file and --tls-key-file")
    if config.port == 0 and config.tls_port == 0:
        raise ValueError(
            "nothing to listen on: --port 0 turns the plain port off, so give --tls-port"
        )
