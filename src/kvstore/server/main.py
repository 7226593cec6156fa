"""``kvstore-server`` / ``./server``: parse the configuration, pick the event loop, serve."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from kvstore import build
from kvstore.commands import VERSION
from kvstore.config import ConfigError, ServerConfig, load_config, wants_version
from kvstore.server.assembly import assemble
from kvstore.server.listeners import StartupError
from kvstore.server.logs import configure_logging

log = logging.getLogger("kvstore.server")


def _runner(config: ServerConfig) -> Callable[[Coroutine[Any, Any, None]], None]:
    """``asyncio.run`` on uvloop when it is wanted and importable, else on asyncio's loop."""
    if config.event_loop != "asyncio":
        try:
            import uvloop  # noqa: PLC0415 - optional dependency
        except ImportError:
            if config.event_loop == "uvloop":
                raise StartupError(
                    "--event-loop uvloop: the uvloop package is not installed"
                ) from None
        else:
            run: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
            return run
    return asyncio.run


async def _serve(config: ServerConfig) -> None:
    server = await assemble(config)
    await server.start()
    server.install_signal_handlers()
    log.info("%s", server.banner())
    await server.serve()


def main(argv: Sequence[str] | None = None) -> int:
    if wants_version(argv):
        print(f"kvstore-server {VERSION}")
        return 0
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"kvstore-server: error: {exc}", file=sys.stderr)
        return 2
    if config.pure and build.COMPILED:
        # The compiled modules are loaded already: start again with the pure build forced.
        os.environ[build.PURE_ENV] = "1"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    configure_logging(config.log_level, config.log_format)
    try:
        _runner(config)(_serve(config))
    except StartupError as exc:
        print(f"kvstore-server: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
