"""The least a Python server can do for ``redis-benchmark -t set,get``: the ceiling kvstore is
measured against in ``benchmarks.ceiling``.

GET and SET on a dict, nothing else: no expiry, no statistics, no log, no limits, no error
handling beyond what the benchmark needs. One ``asyncio.Protocol`` per connection on uvloop,
hiredis parsing every whole frame of a read, the replies joined and written once per read. It
is not part of kvstore and never runs outside the benchmarks::

    .venv/bin/python -m benchmarks.bare_server --port 6390
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

import hiredis
import uvloop

OK = b"+OK\r\n"
NIL = b"$-1\r\n"
ERROR = b"-ERR unknown command\r\n"


class BareProtocol(asyncio.Protocol):
    def __init__(self, table: dict[bytes, bytes]) -> None:
        self.table = table
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        table = self.table
        out = []
        frame = reader.gets()
        while frame is not False:
            name = frame[0]
            if name in (b"GET", b"get"):
                value = table.get(frame[1])
                out.append(NIL if value is None else b"$%d\r\n%b\r\n" % (len(value), value))
            elif name in (b"SET", b"set"):
                table[frame[1]] = frame[2]
                out.append(OK)
            elif name in (b"PING", b"ping"):
                out.append(b"+PONG\r\n")
            elif name in (b"FLUSHALL", b"flushall"):
                table.clear()
                out.append(OK)
            else:  # redis-benchmark's CONFIG GET at start-up: an error is fine
                out.append(ERROR)
            frame = reader.gets()
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    table: dict[bytes, bytes] = {}
    server = await loop.create_server(lambda: BareProtocol(table), "127.0.0.1", port)
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    print(f"bare server listening on 127.0.0.1:{port}", flush=True)
    await stopped.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="GET/SET only, for benchmarks.ceiling")
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
