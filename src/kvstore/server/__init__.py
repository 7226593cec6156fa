"""The network server: asyncio I/O only, no command logic."""

from kvstore.server.app import Server
from kvstore.server.assembly import assemble
from kvstore.server.listeners import StartupError

__all__ = ["Server", "StartupError", "assemble"]
