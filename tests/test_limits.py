"""Each client limit, on a server started with a small value for it: the client that passes it
gets a clear error (or is cut off and the cut logged), and the server goes on serving."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

from conftest import (
    SERVER,
    ServerProcess,
    free_port,
    read_exactly,
    read_to_eof,
    retry_bind,
    wait_for,
)
from hostile_support import exchange, send_until_closed
from kvstore.config import ConfigError, load_config, parse_size
from kvstore.protocol import RequestParser, encode_request, hiredis_available
from kvstore.protocol.resp_requests import (
    UNAUTHENTICATED_LIMITS,
    HiredisRequestParser,
    RequestDecoder,
)

Factory = Callable[..., ServerProcess]
PING = encode_request([b"PING"])


def test_sizes_read_like_redis() -> None:
    assert parse_size("100mb") == 100 * 1024 * 1024
    assert parse_size("1GB") == 1024**3
    assert parse_size("1g") == 1000**3
    assert parse_size("4096") == 4096
    for bad in ("", "mb", "1.5gb", "-1", "10xb"):
        with pytest.raises(ValueError, match=f"^{re.escape(bad)}$"):
            parse_size(bad)
    config = load_config(["--maxmemory", "1gb", "--client-output-buffer-limit", "64mb"], {})
    limits = "normal 67108864 0 0 pubsub 33554432 8388608 60"
    assert (config.maxmemory, config.client_output_buffer_limit) == (1024**3, limits)
    with pytest.raises(ConfigError, match="maxclients"):
        load_config(["--maxclients", "0"], {})
    with pytest.raises(ConfigError, match="expected a size"):
        load_config([], {"KVSTORE_MAXMEMORY": "lots"})


def test_maxclients(server_factory: Factory) -> None:
    server = server_factory("--maxclients", "3")
    admitted = [server.connect() for _ in range(3)]
    for sock in admitted:
        exchange(sock, PING, b"+PONG\r\n")
    with server.connect() as refused:
        assert read_to_eof(refused) == b"-ERR max number of clients reached\r\n"
    admitted.pop().close()
    replacement: list[socket.socket] = []

    def admitted_again() -> bool:
        sock = server.connect()
        sock.sendall(PING)
        reply = read_to_eof(sock) if sock.recv(1, socket.MSG_PEEK) == b"-" else b""
        if reply:
            sock.close()
            return False
        replacement.append(sock)
        return True

    wait_for(admitted_again, 10, "a free client slot after a client left")
    exchange(replacement[0], b"", b"+PONG\r\n")
    for sock in admitted + replacement:
        sock.close()
    server.wait_for_log("max number of clients (3) reached")


def test_maxclients_is_lowered_to_the_open_files_limit(server_factory: Factory) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 10_000_000:
        pytest.skip("no finite hard limit on open files")
    server = server_factory("--maxclients", str(hard + 1000))
    server.wait_for_log("maxclients lowered")


def test_config_get_and_info_report_the_lowered_maxclients() -> None:
    # As Redis: under ``ulimit -n 100`` the 10000 asked for becomes 100 - 32 reserved = 68,
    # and CONFIG GET and INFO say 68, the number the server enforces.
    lower_then_exec = (
        "import os, resource, sys; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100)); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )

    def start() -> ServerProcess:
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                lower_then_exec,
                str(SERVER),
                "--no-persist",
                "--port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = ServerProcess(proc, port)
        started.wait_ready()
        return started

    server = retry_bind(start)
    try:
        server.wait_for_log("maxclients lowered from 10000 to 68")
        with server.connect() as sock:
            exchange(
                sock,
                encode_request([b"CONFIG", b"GET", b"maxclients"]),
                b"*2\r\n$10\r\nmaxclients\r\n$2\r\n68\r\n",
            )
            sock.sendall(encode_request([b"INFO", b"clients"]))
            header = b""
            while not header.endswith(b"\r\n"):
                header += read_exactly(sock, 1)
            info = read_exactly(sock, int(header[1:-2]) + 2)
        assert b"\r\nmaxclients:68\r\n" in info
    finally:
        server.stop()


def test_bulk_length_limit(server_factory: Factory) -> None:
    server = server_factory("--proto-max-bulk-len", "1mb")
    with server.connect() as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (1024 * 1024 + 1))
        assert read_to_eof(sock) == b"-ERR Protocol error: invalid bulk length\r\n"
    with server.connect() as sock:
        value = b"v" * (1024 * 1024)
        exchange(sock, encode_request([b"SET", b"k", value]), b"+OK\r\n")


def test_argument_count_limit(server_factory: Factory) -> None:
    server = server_factory("--proto-max-args", "1024")
    with server.connect() as sock:
        exchange(sock, encode_request([b"EXISTS"] + [b"k"] * 1023), b":0\r\n")
        sock.sendall(b"*1025\r\n")
        assert read_to_eof(sock) == b"-ERR Protocol error: invalid multibulk length\r\n"


@pytest.mark.parametrize("shape", ["one-big-argument", "many-arguments"])
def test_query_buffer_limit(server_factory: Factory, shape: str) -> None:
    server = server_factory("--client-query-buffer-limit", "1mb")
    if shape == "one-big-argument":
        head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (10 * 1024 * 1024)
        junk = b"x" * 65536
    else:  # a frame that never ends, of small arguments: none is buffered for long
        head = b"*1000000\r\n$6\r\nEXISTS\r\n"
        junk = b"$1000\r\n" + b"k" * 1000 + b"\r\n"
    answer = send_until_closed(server, head, junk, limit=8 * 1024 * 1024)
    assert answer == b"-ERR Protocol error: query buffer limit exceeded\r\n"
    with server.connect() as sock:
        exchange(sock, PING, b"+PONG\r\n")


def test_output_buffer_limit_cuts_a_client_that_does_not_read(server_factory: Factory) -> None:
    server = server_factory("--client-output-buffer-limit", "4mb")
    value = b"v" * (512 * 1024)
    with server.connect() as sock:
        exchange(sock, encode_request([b"SET", b"big", value]), b"+OK\r\n")
        # 200 GETs of 512 KiB (100 MiB of replies) in one pipeline, and nothing read.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        with contextlib.suppress(OSError):
            sock.sendall(encode_request([b"GET", b"big"]) * 200)
        server.wait_for_log("client-output-buffer-limit", timeout=30)
        received = len(read_to_eof(sock, timeout=30))
        assert received < 50 * len(value)
    with server.connect() as sock:  # a client that reads gets its big value
        sock.sendall(encode_request([b"GET", b"big"]) * 4)
        expected = b"$%d\r\n%b\r\n" % (len(value), value)
        assert read_exactly(sock, 4 * len(expected)) == 4 * expected


def test_idle_clients_are_closed_after_timeout(server_factory: Factory) -> None:
    server = server_factory("--timeout", "1")
    with server.connect() as idle:
        exchange(idle, PING, b"+PONG\r\n")
        assert read_to_eof(idle, timeout=30) == b""
    server.wait_for_log("idle for over 1s")


def test_no_timeout_by_default(server_factory: Factory) -> None:
    server = server_factory()
    with server.connect() as sock:
        exchange(sock, PING, b"+PONG\r\n")
        sock.settimeout(2.5)  # longer than the idle sweep's period: it must not close us
        with pytest.raises(TimeoutError):
            sock.recv(1)


PARSERS: list[type[RequestDecoder]] = [RequestParser]
if hiredis_available():
    PARSERS.append(HiredisRequestParser)


@pytest.mark.parametrize("parser_type", PARSERS)
def test_small_limits_before_authentication(parser_type: type[RequestDecoder]) -> None:
    auth = encode_request([b"AUTH", b"secret"])
    parser = parser_type(UNAUTHENTICATED_LIMITS)  # type: ignore[call-arg]
    assert parser.feed(auth) == [[b"AUTH", b"secret"]]
    parser = parser_type(UNAUTHENTICATED_LIMITS)  # type: ignore[call-arg]
    assert parser.feed(encode_request([b"SET"] + [b"k"] * 10)) == []
    assert parser.error is not None
    assert parser.error.message == "Protocol error: unauthenticated multibulk length"
    parser = parser_type(UNAUTHENTICATED_LIMITS)  # type: ignore[call-arg]
    assert parser.feed(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n") == []
    assert parser.error is not None
    assert parser.error.message == "Protocol error: unauthenticated bulk length"
