"""A client that announces a long value, sends part of it and leaves: the server must give the
part back when the connection closes, not when (if ever) the cyclic garbage collector runs, or a
client that repeats this can take all the machine's memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conftest import VARIANTS, ServerProcess, start_server, wait_for
from hostile_support import exchange, send_until_closed
from kvstore.protocol import encode_request

MIB = 1024 * 1024
PING = encode_request([b"PING"])


def resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/PID/status")


@pytest.fixture(params=sorted(VARIANTS))
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    process = start_server(*VARIANTS[request.param], "--no-persist")
    yield process
    process.stop()


def one_client(server: ServerProcess, size: int) -> Callable[[], None]:
    """Start sending ``size`` bytes of a value announced 200 MB long; the returned call leaves."""
    sock = server.connect()
    sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000000\r\n")
    chunk = b"x" * MIB
    for _ in range(size // MIB):
        sock.sendall(chunk)
    return sock.close


def many_clients(server: ServerProcess, size: int) -> Callable[[], None]:
    """100 clients, each sending its share of ``size`` of a value announced twice as long."""
    share = size // 100
    socks = []
    for _ in range(100):
        sock = server.connect()
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (2 * share) + b"x" * share)
        socks.append(sock)

    def leave() -> None:
        for sock in socks:
            sock.close()

    return leave


@pytest.mark.parametrize("shape", [one_client, many_clients], ids=["one-client", "100-clients"])
def test_an_unfinished_value_is_freed_when_its_client_leaves(
    server: ServerProcess, shape: Callable[[ServerProcess, int], Callable[[], None]]
) -> None:
    pid = server.proc.pid
    with server.connect() as sock:  # the server's own allocations of a first client
        exchange(sock, PING, b"+PONG\r\n")
    baseline = resident_mib(pid)
    size = 50 * MIB
    for round_ in range(5):
        leave = shape(server, size)
        # Only once the server holds the part does its leaving show anything.
        wait_for(
            lambda: resident_mib(pid) > baseline + 0.8 * size / MIB,
            30,
            f"round {round_}: the server buffering the partial value",
        )
        leave()
        wait_for(
            lambda: resident_mib(pid) < baseline + 15,
            15,
            f"round {round_}: the server's memory back near {baseline:.0f} MiB",
        )
    with server.connect() as sock:
        exchange(sock, PING, b"+PONG\r\n")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_query_buffer_limit_still_cuts_an_unfinished_value(variant: str) -> None:
    server = start_server(*VARIANTS[variant], "--no-persist", "--client-query-buffer-limit", "4mb")
    try:
        head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (200 * MIB)
        answer = send_until_closed(server, head, b"x" * 65536, limit=64 * MIB)
        assert answer == b"-ERR Protocol error: query buffer limit exceeded\r\n"
        with server.connect() as sock:
            exchange(sock, PING, b"+PONG\r\n")
    finally:
        server.stop()
