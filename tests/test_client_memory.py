"""Clients' buffers are the server's memory: unsent replies count in ``used_memory`` (and
``mem_clients_normal``), so ``--maxmemory`` refuses writes while clients that do not read hold
it; ``client-output-buffer-limit`` takes Redis's ``normal <hard> <soft> <seconds>`` and cuts
clients that never read, counted in INFO stats."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import VARIANTS, ServerProcess, wait_for
from hostile_support import exchange
from kvstore.config import (
    ConfigError,
    OutputLimit,
    load_config,
    parse_output_limit,
)
from kvstore.config.options import parse_pubsub_output_limit
from kvstore.protocol import encode_request

Factory = Callable[..., ServerProcess]
MB = 1024 * 1024
VALUE = b"v" * MB


@contextmanager
def never_reading(server: ServerProcess, gets: int) -> Iterator[socket.socket]:
    """A client that asks for ``gets`` copies of the 1 MiB value ``big`` and reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # before connecting
    sock.connect((server.host, server.port))
    try:
        sock.sendall(encode_request([b"GET", b"big"]) * gets)
        yield sock
    finally:
        sock.close()


def info(sock: socket.socket, section: bytes) -> dict[str, str]:
    sock.sendall(encode_request([b"INFO", section]))
    header = b""
    while not header.endswith(b"\r\n"):
        header += sock.recv(1)
    size = int(header[1:-2])
    body = b""
    while len(body) < size + 2:
        body += sock.recv(size + 2 - len(body))
    lines = body.decode().split("\r\n")
    return dict(line.split(":", 1) for line in lines if ":" in line)


def call(sock: socket.socket, *args: bytes) -> bytes:
    sock.sendall(encode_request(list(args)))
    return sock.recv(4096)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_unread_replies_count_against_maxmemory(server_factory: Factory, variant: str) -> None:
    server = server_factory(
        "--no-persist",
        "--maxmemory",
        "80mb",
        "--client-output-buffer-limit",
        "normal 0 0 0",
        *VARIANTS[variant],
    )
    with server.connect() as sock:
        exchange(sock, encode_request([b"SET", b"big", VALUE]), b"+OK\r\n")
        with never_reading(server, 120):  # 120 MiB of replies it never reads
            wait_for(
                lambda: int(info(sock, b"memory")["mem_clients_normal"]) > 80 * MB,
                30,
                "the unread replies to be counted",
            )
            memory = info(sock, b"memory")
            assert int(memory["used_memory"]) > int(memory["mem_clients_normal"]) > 80 * MB
            refused = call(sock, b"SET", b"small", b"1")
            assert refused == b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
            assert call(sock, b"GET", b"small") == b"$-1\r\n"  # reads go on
        # The client is gone and so are its buffers: writes are accepted again.
        wait_for(lambda: call(sock, b"SET", b"small", b"1") == b"+OK\r\n", 30, "room again")
        assert int(info(sock, b"memory")["mem_clients_normal"]) < MB


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_soft_limit_cuts_a_client_that_never_reads(
    server_factory: Factory, variant: str
) -> None:
    server = server_factory(
        "--no-persist", "--client-output-buffer-limit", "normal 0 8mb 1", *VARIANTS[variant]
    )
    with server.connect() as sock:
        exchange(sock, encode_request([b"SET", b"big", VALUE]), b"+OK\r\n")
        assert info(sock, b"stats")["client_output_buffer_limit_disconnections"] == "0"
        # 30 MiB asked for at once, then nothing: no further write checks the client, the
        # server's sweep finds it over the soft limit for over a second.
        with never_reading(server, 30):
            wait_for(
                lambda: info(sock, b"stats")["client_output_buffer_limit_disconnections"] == "1",
                30,
                "the client to be cut",
            )
        server.wait_for_log("soft limit 8388608 for over 1s")
        wait_for(
            lambda: int(info(sock, b"memory")["mem_clients_normal"]) < MB, 30, "buffers released"
        )
        # A client that reads gets its value.
        exchange(sock, encode_request([b"GET", b"big"]), b"$%d\r\n%b\r\n" % (MB, VALUE))
        exchange(sock, encode_request([b"CONFIG", b"RESETSTAT"]), b"+OK\r\n")
        assert info(sock, b"stats")["client_output_buffer_limit_disconnections"] == "0"


def test_config_set_changes_the_limit_of_connected_clients(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    with server.connect() as sock:
        exchange(sock, encode_request([b"SET", b"big", VALUE]), b"+OK\r\n")
        default = b"normal 268435456 67108864 60 pubsub 33554432 8388608 60"
        expected = b"*2\r\n$26\r\nclient-output-buffer-limit\r\n$%d\r\n%b\r\n" % (
            len(default),
            default,
        )
        exchange(sock, encode_request([b"CONFIG", b"GET", b"client-output-buffer-limit"]), expected)
        with never_reading(server, 0) as reader:
            set_limit = [b"CONFIG", b"SET", b"client-output-buffer-limit", b"normal 4mb 0 0"]
            exchange(sock, encode_request(set_limit), b"+OK\r\n")
            reader.sendall(encode_request([b"GET", b"big"]) * 40)
            wait_for(
                lambda: info(sock, b"stats")["client_output_buffer_limit_disconnections"] == "1",
                30,
                "the client to be cut",
            )
        server.wait_for_log("hard limit 4194304")
        bad = [b"CONFIG", b"SET", b"client-output-buffer-limit", b"normal 4mb"]
        assert call(sock, *bad).startswith(b"-ERR CONFIG SET failed")


def test_the_limit_reads_like_redis_from_flags_environment_and_file(tmp_path: Path) -> None:
    assert parse_output_limit("normal 256mb 64mb 60") == OutputLimit(256 * MB, 64 * MB, 60)
    assert parse_output_limit("64mb") == OutputLimit(64 * MB, 0, 0)
    both = "normal 10mb 5mb 30 pubsub 16mb 4mb 20 replica 1mb 0 0"  # replicas: ignored
    assert parse_output_limit(both) == OutputLimit(10 * MB, 5 * MB, 30)
    assert parse_pubsub_output_limit(both) == OutputLimit(16 * MB, 4 * MB, 20)
    assert parse_pubsub_output_limit("1mb") == OutputLimit(32 * MB, 8 * MB, 60)
    default = "normal 268435456 67108864 60 pubsub 33554432 8388608 60"
    assert load_config([], {}).client_output_buffer_limit == default
    flag = ["--client-output-buffer-limit", "normal 1mb 0 0"]
    assert (
        load_config(flag, {}).client_output_buffer_limit
        == "normal 1048576 0 0 pubsub 33554432 8388608 60"
    )
    env = {"KVSTORE_CLIENT_OUTPUT_BUFFER_LIMIT": "normal 0 2mb 5"}
    assert (
        load_config([], env).client_output_buffer_limit
        == "normal 0 2097152 5 pubsub 33554432 8388608 60"
    )
    file = tmp_path / "kvstore.toml"
    file.write_text('client-output-buffer-limit = "normal 3mb 1mb 10"\n')
    from_file = load_config(["--config", str(file)], {}).client_output_buffer_limit
    assert from_file == "normal 3145728 1048576 10 pubsub 33554432 8388608 60"
    for bad in ("normal 1mb 0", "pubsub 1mb 0 0", "normal lots 0 0", "normal 1mb 0 -1"):
        with pytest.raises(ConfigError, match="client-output-buffer-limit"):
            load_config(["--client-output-buffer-limit", bad], {})
