"""The network server: asyncio I/O only, no command logic."""

from kvstore.server.app import Server, StartupError

__all__ = ["Server", "StartupError"]
