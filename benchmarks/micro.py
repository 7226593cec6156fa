"""In-process micro-benchmarks of the request path, without sockets.

A real :class:`~kvstore.server.app.Server` (persistence on, ``everysec``, in a temporary
directory; off with ``--no-persist``) with no listener gets a
:class:`~kvstore.server.connection.ClientConnection` wired to a fake transport; each case feeds
it chunks of RESP requests and then runs any pending flush of the log, as one event-loop
iteration would. Reports the CPU time per request (best of ``--repeat``) per case
(CPU time, as other processes on a shared machine disturb it less than elapsed time)::

    .venv/bin/python -m benchmarks.micro                 # every case
    .venv/bin/python -m benchmarks.micro --only 'p*'     # shell patterns
    .venv/bin/python -m benchmarks.micro --profile p16-set  # cProfile of one case
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import fnmatch
import pstats
import tempfile
import time
from collections.abc import Callable
from typing import Any

from kvstore.config import ServerConfig
from kvstore.protocol.resp import encode_request
from kvstore.server.app import Server
from kvstore.server.assembly import assemble
from kvstore.server.connection import ClientConnection


class FakeTransport(asyncio.Transport):
    """Counts what is written; closing is recorded, nothing more."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += len(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0  # every write is taken at once: no client ever falls behind

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default


def _requests(command: bytes, count: int, value: bytes) -> list[bytes]:
    keys = [b"key:%06d" % (i % 1000) for i in range(count)]
    if command == b"SET":
        return [encode_request([b"SET", key, value]) for key in keys]
    return [encode_request([b"GET", key]) for key in keys]


def _chunks(requests: list[bytes], per_chunk: int) -> list[bytes]:
    return [b"".join(requests[i : i + per_chunk]) for i in range(0, len(requests), per_chunk)]


#: name -> (command, requests, requests per chunk, value size)
CASES: dict[str, tuple[bytes, int, int, int]] = {
    "c1-set": (b"SET", 20_000, 1, 3),
    "c1-get": (b"GET", 20_000, 1, 3),
    "p16-set": (b"SET", 20_000, 16, 3),
    "p16-get": (b"GET", 20_000, 16, 3),
    "p10k-set": (b"SET", 10_000, 10_000, 3),
    "p10k-get": (b"GET", 10_000, 10_000, 3),
    "v1m-set": (b"SET", 200, 1, 1 << 20),
    "v1m-get": (b"GET", 200, 1, 1 << 20),
}


def _split_large(chunks: list[bytes], read_size: int) -> list[bytes]:
    """Large requests arrive in reads of at most ``read_size`` bytes, as from a socket."""
    out = []
    for chunk in chunks:
        for i in range(0, len(chunk), read_size):
            out.append(chunk[i : i + read_size])
    return out


async def _setup(
    directory: str, persist: bool = True, parser: str = "auto"
) -> tuple[Server, ClientConnection, FakeTransport]:
    config = ServerConfig(
        port=0,
        dir=directory,
        appendfsync="everysec",
        log_level="warning",
        no_persist=not persist,
        parser=parser,
    )
    server = await assemble(config)
    await server.start()
    connection = ClientConnection(server.context)
    transport = FakeTransport()
    connection.connection_made(transport)
    return server, connection, transport


def run_case(
    connection: ClientConnection, server: Server, name: str, repeat: int
) -> tuple[float, Callable[[], None]]:
    command, count, per_chunk, size = CASES[name]
    value = b"x" * size
    if command == b"GET":  # the keys exist
        setup = _chunks(_requests(b"SET", 1000, value), 100)
        for chunk in setup:
            connection.data_received(chunk)
        if server.persistence is not None:
            server.persistence.flush()
    chunks = _chunks(_requests(command, count, value), per_chunk)
    if size > 65536:
        chunks = _split_large(chunks, 256 * 1024)
    journal = None if server.persistence is None else server.persistence.journal
    feed = connection.data_received

    def once() -> None:
        for chunk in chunks:
            feed(chunk)
            if journal is not None and journal.pending:
                journal.flush(check_size=False)

    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        once()
        best = min(best, time.process_time() - start)
    return best / count, once


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        server, connection, _ = await _setup(
            directory, persist=not args.no_persist, parser=args.parser
        )
        try:
            if args.profile:
                _, once = run_case(connection, server, args.profile, 1)
                profiler = cProfile.Profile()
                profiler.runcall(once)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
                return
            for name in CASES:
                if args.only and not any(
                    fnmatch.fnmatch(name, pattern) for pattern in args.only.split(",")
                ):
                    continue
                per_request, _ = run_case(connection, server, name, args.repeat)
                print(f"{name:10} {per_request * 1e6:8.2f} us/request")
        finally:
            connection.connection_lost(None)
            await server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="case names, shell patterns, comma-separated")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", default="", help="profile one case with cProfile")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--no-persist", action="store_true", help="run without the log")
    parser.add_argument(
        "--parser", default="auto", choices=("auto", "python", "hiredis"), help="request parser"
    )
    args = parser.parse_args()
    if args.uvloop:
        import uvloop  # noqa: PLC0415

        uvloop.run(_main(args))
    else:
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
