"""Scripts of raw requests over several connections, run against kvstore and a real
redis-server and compared byte for byte (pub/sub and client tracking)."""

from __future__ import annotations

import socket
import time

from conftest import ServerProcess
from kvstore.protocol import encode_request

#: (the connection, the requests it sends) for each step of a script.
Step = tuple[int, list[list[bytes]]]
#: ``{1}`` in an argument stands for the id of connection 1 (CLIENT ID), which each server
#: numbers its own way.
CONNECTION_1 = b"{1}"


class Wire:
    """A raw connection: send requests, then read every byte up to the reply of a ``PING
    <token>`` sent after them (whatever the connection's state, that reply ends with the
    token as a bulk string)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.tokens = 0

    def exchange(self, requests: list[list[bytes]]) -> bytes:
        self.tokens += 1
        token = b"token-%d" % self.tokens
        self.sock.sendall(b"".join(encode_request(r) for r in [*requests, [b"PING", token]]))
        end = b"$%d\r\n%b\r\n" % (len(token), token)
        data = b""
        deadline = time.monotonic() + 10
        while not data.endswith(end):
            assert time.monotonic() < deadline, f"no reply ending {end!r}: {data!r}"
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
        return data


def cmd(*words: str | bytes) -> list[bytes]:
    return [word if isinstance(word, bytes) else word.encode() for word in words]


def run_script(
    port: int, connections: int, steps: list[Step], name_ids: bool = False
) -> list[bytes]:
    """Each step's replies; with ``name_ids``, ``{1}`` is replaced by connection 1's id."""
    wires = [Wire(port) for _ in range(connections)]
    try:
        ids: list[bytes] = []
        if name_ids:
            ids = [wire.exchange([cmd("CLIENT", "ID")]).split(b"\r\n")[0][1:] for wire in wires]
        out = []
        for index, requests in steps:
            sent = (
                [[ids[1] if a == CONNECTION_1 else a for a in r] for r in requests]
                if ids
                else requests
            )
            out.append(wires[index].exchange(sent))
        return out
    finally:
        for wire in wires:
            wire.sock.close()


def assert_script_matches_redis(
    servers: tuple[int, ServerProcess],
    script: tuple[int, list[Step]],
    name_ids: bool = False,
) -> None:
    """The script's exchanges are the same bytes on both servers (HELLO's reply aside: it names
    each server)."""
    redis_port, kvstore = servers
    connections, steps = script
    expected = run_script(redis_port, connections, steps, name_ids)
    actual = run_script(kvstore.port, connections, steps, name_ids)
    for (index, requests), theirs, mine in zip(steps, expected, actual, strict=True):
        if requests and requests[0][0] == b"HELLO":
            continue
        assert mine == theirs, f"connection {index}, {requests}"
