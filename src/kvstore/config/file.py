"""Reading the ``--config`` TOML file: a leaf beside :mod:`kvstore.config.options`.

``tomllib`` is in the standard library from Python 3.11; on 3.10 the ``tomli`` package serves
when installed, else the file cannot be read and the error says so.
"""

from __future__ import annotations

import sys
from typing import Any


def read_toml(path: str) -> dict[str, Any]:
    """The file's table; ``ValueError`` with a one-line message when it cannot be read."""
    if sys.version_info >= (3, 11):
        import tomllib as toml  # noqa: PLC0415 - only when a file is given
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as toml  # type: ignore[import-not-found, no-redef, unused-ignore]  # noqa: PLC0415
        except ImportError:
            raise ValueError(
                f"--config {path}: reading TOML on Python 3.10 needs the tomli package "
                "(pip install tomli), or use Python 3.11+"
            ) from None
    try:
        with open(path, "rb") as file:
            table: dict[str, Any] = toml.load(file)
    except OSError as exc:
        raise ValueError(f"--config: cannot read {path}: {exc.strerror or exc}") from None
    except toml.TOMLDecodeError as exc:
        raise ValueError(f"--config {path}: not valid TOML: {exc}") from None
    return table


def as_text(value: Any) -> str | None:
    """A TOML value as the text a flag would carry (None for a value of no option's type)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return " ".join(value)
    return None
