"""``python -m kvstore.cli.health [--pid PID]``: the container image's health check.

PINGs a running server on the address, port and password it was started with: its flags and
environment are read from /proc and settled by the server's own configuration rules, so a
``--port`` given after the image name, a ``--config`` file or ``--requirepass-file`` is
followed, not only ``KVSTORE_PORT``. Without ``--pid`` it checks the lowest-numbered
``kvstore-server`` process (in a container, the only one). Exit 0 on PONG, else 1 with the
reason on stdout (where docker and podman keep a health check's output).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kvstore.client import Client, KvstoreError
from kvstore.config import ConfigError, load_config

PROC = Path("/proc")
TIMEOUT = 5.0
#: A server listening on every interface is reached through loopback.
LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class UnhealthyError(Exception):
    pass


def _flags(argv: list[str]) -> list[str] | None:
    """The server flags in a command line, or None when it does not run kvstore-server."""
    if argv and Path(argv[0]).name.startswith("python"):
        if argv[1:3] in (["-m", "kvstore.server"], ["-m", "kvstore.server.main"]):
            return argv[3:]
        argv = argv[1:]  # the interpreter, then the script
    if argv and Path(argv[0]).name in ("kvstore-server", "server"):
        return argv[1:]
    return None


def _read(pid: int, name: str) -> list[str]:
    raw = (PROC / str(pid) / name).read_bytes()
    return [os.fsdecode(part) for part in raw.split(b"\0") if part]


def server_process(pid: int | None) -> tuple[list[str], dict[str, str]]:
    """The flags and environment of process ``pid``, or of the first kvstore-server."""
    pids = (
        [pid]
        if pid is not None
        else sorted(int(p.name) for p in PROC.iterdir() if p.name.isdigit())
    )
    for candidate in pids:
        try:
            flags = _flags(_read(candidate, "cmdline"))
            if flags is None:
                continue
            environ = dict(item.partition("=")[::2] for item in _read(candidate, "environ"))
        except OSError:
            continue  # ended meanwhile, or not ours to read
        return flags, environ
    raise UnhealthyError(f"no kvstore-server process{'' if pid is None else f' with pid {pid}'}")


def check(pid: int | None) -> str:
    flags, environ = server_process(pid)
    try:
        config = load_config(flags, environ)
    except ConfigError as exc:
        raise UnhealthyError(f"cannot read the server's configuration: {exc}") from None
    if not config.port:
        raise UnhealthyError("the server has no plain TCP port (TLS only): check it another way")
    host = LOOPBACK.get(config.bind[0], config.bind[0])
    address = f"[{host}]:{config.port}" if ":" in host else f"{host}:{config.port}"
    client = Client(
        address,
        password=config.requirepass or None,
        connect_timeout=TIMEOUT,
        socket_timeout=TIMEOUT,
    )
    try:
        reply = client.ping()
    except (KvstoreError, OSError) as exc:
        raise UnhealthyError(f"{address}: {exc}") from None
    finally:
        client.close()
    if reply is not True:
        raise UnhealthyError(f"{address}: PING answered {reply!r}")
    return address


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvstore.cli.health", description=__doc__)
    parser.add_argument("--pid", type=int, help="the server's process (default: found in /proc)")
    args = parser.parse_args(argv)
    try:
        address = check(args.pid)
    except UnhealthyError as exc:
        print(f"unhealthy: {exc}")
        return 1
    print(f"healthy: {address} answered PONG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
