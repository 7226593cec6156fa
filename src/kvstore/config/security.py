"""Checks and derived values for the access-control options: the password and TLS.

A leaf beside :mod:`kvstore.config.options`, which calls :func:`resolve_password` and
:func:`check_tls` once the flags and the environment are read, with the values they need; a
problem is raised as ``ValueError`` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Read when neither ``--requirepass`` nor ``--requirepass-file`` (nor their variables) is set:
#: the name the command-line client reads its password from, so one variable serves both.
PASSWORD_ENV = "KVSTORE_PASSWORD"


def resolve_password(
    requirepass: str, requirepass_file: str, flags: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[str, str]:
    """Settle the password's source (a flag beats the environment): the password and the file
    it was read from (``""`` when it came from elsewhere)."""
    from_flag, file_from_flag = "requirepass" in flags, "requirepass_file" in flags
    if from_flag and file_from_flag:
        raise ValueError("give --requirepass or --requirepass-file, not both")
    if from_flag:
        requirepass_file = ""  # a file named in the environment loses to the flag
    elif file_from_flag:
        requirepass = ""
    elif requirepass and requirepass_file:
        raise ValueError("set KVSTORE_REQUIREPASS or KVSTORE_REQUIREPASS_FILE, not both")
    elif not requirepass and not requirepass_file:
        requirepass = environ.get(PASSWORD_ENV, "")
    if requirepass_file:
        requirepass = read_password_file(requirepass_file)
    return requirepass, requirepass_file


def read_password_file(path: str, option: str = "--requirepass-file") -> str:
    """The first line of ``path``, without its line ending (``option`` names it in errors)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{option}: {path} is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ValueError(f"{option}: the first line of {path} is empty")
    return lines[0]


def check_tls(port: int, tls_port: int, tls_cert_file: str, tls_key_file: str) -> None:
    """Refuse TLS options that cannot work together (and a server with no port at all)."""
    if not 0 <= tls_port <= 65535:
        raise ValueError(f"TLS port {tls_port} is out of range (0-65535)")
    if tls_port and not (tls_cert_file and tls_key_file):
        raise ValueError("--tls-port needs --tls-cert-file and --tls-key-file")
    if port == 0 and tls_port == 0:
        raise ValueError(
            "nothing to listen on: --port 0 turns the plain port off, so give --tls-port"
        )
