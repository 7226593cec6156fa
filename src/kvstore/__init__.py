"""kvstore: a remote in-memory key/value store speaking RESP and a text line protocol."""

from kvstore.commands.context import VERSION

__version__ = VERSION

__all__ = ["__version__"]
