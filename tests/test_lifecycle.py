"""Stopping a real server: SHUTDOWN [NOSAVE|SAVE], SIGTERM/SIGINT, and the start-up banner."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from conftest import CLIENT, VARIANTS, ServerProcess, read_exactly, wait_for
from kvstore.build import parser_in_use

Factory = Callable[..., ServerProcess]
SNAPSHOT = "snapshot.kvs"


def client(server: ServerProcess, **options: object) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=10, **options)  # type: ignore[arg-type]


def run(r: redis.Redis, *args: str) -> object:
    return r.execute_command(*args)  # type: ignore[no-untyped-call]


def exit_code(server: ServerProcess) -> int:
    """The exit code of a server that is ending, once its whole log has been read."""
    server.finish_log(timeout=15)
    return server.proc.returncode


def lines_after(server: ServerProcess, marker: str) -> list[str]:
    log = server.finish_log(timeout=15)
    start = next(i for i, line in enumerate(log) if marker in line)
    return log[start:]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_shutdown_snapshots_and_the_data_survives(
    server_factory: Factory, tmp_path: Path, variant: str
) -> None:
    server = server_factory("--dir", str(tmp_path), *VARIANTS[variant])
    r = client(server)
    r.set("kept", "value")
    r.shutdown()  # redis-py takes the closed connection as success
    assert exit_code(server) == 0
    assert (tmp_path / SNAPSHOT).exists()
    assert any("server stopped" in line for line in server.log)
    again = server_factory("--dir", str(tmp_path), *VARIANTS[variant])
    assert client(again).get("kept") == b"value"


def test_shutdown_nosave_writes_no_snapshot_but_the_log_keeps_the_data(
    server_factory: Factory, tmp_path: Path
) -> None:
    server = server_factory("--dir", str(tmp_path))
    client(server).set("kept", "value")
    client(server).shutdown(nosave=True)
    assert exit_code(server) == 0
    assert not (tmp_path / SNAPSHOT).exists()
    assert list(tmp_path.glob("appendonly.*.log"))
    again = server_factory("--dir", str(tmp_path))
    assert client(again).get("kept") == b"value"


def test_shutdown_through_the_command_line_client(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    done = subprocess.run(
        [sys.executable, str(CLIENT), server.address, "shutdown"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert exit_code(server) == 0


def test_shutdown_needs_authentication(server_factory: Factory) -> None:
    server = server_factory("--no-persist", "--requirepass", "secret")
    with server.connect() as sock:
        sock.sendall(b"*1\r\n$8\r\nSHUTDOWN\r\n*1\r\n$4\r\nPING\r\n")
        assert read_exactly(sock, 34) == b"-NOAUTH Authentication required.\r\n"
    assert server.proc.poll() is None
    assert client(server, password="secret").ping()
    client(server, password="secret").shutdown()
    assert exit_code(server) == 0


def test_shutdown_save_without_persistence_is_refused(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    with pytest.raises(redis.ResponseError, match="persistence is off"):
        run(r, "SHUTDOWN", "SAVE")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        run(r, "SHUTDOWN", "SAVE", "NOSAVE")
    with pytest.raises(redis.ResponseError, match="No shutdown in progress"):
        run(r, "SHUTDOWN", "ABORT")
    assert server.proc.poll() is None
    assert r.ping()


def test_shutdown_over_the_text_protocol_closes_without_a_reply(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    with server.connect() as sock:
        sock.sendall(b"shutdown nosave\r\n")
        assert sock.recv(100) == b""
    assert exit_code(server) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_in_order(server_factory: Factory, tmp_path: Path, signum: int) -> None:
    server = server_factory("--dir", str(tmp_path))
    r = client(server)
    r.set("kept", "value")
    server.proc.send_signal(signum)
    assert exit_code(server) == 0
    tail = lines_after(server, "stop requested")
    assert "server stopped" in tail[-1]
    name = signal.Signals(signum).name
    assert any(f"received {name}, shutting down" in line for line in server.log)
    assert (tmp_path / SNAPSHOT).exists()
    again = server_factory("--dir", str(tmp_path))
    assert client(again).get("kept") == b"value"


def test_the_banner_says_what_an_operator_needs(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory("--dir", str(tmp_path), *VARIANTS["pure"])
    banner = next(line for line in server.log if "listening on" in line)
    assert f"listening on 127.0.0.1:{server.port}" in banner
    assert "kvstore 0.1" in banner
    assert "build: pure, event loop: asyncio, parser: python" in banner
    assert f"persistence: append-only log and snapshot in {tmp_path}" in banner
    assert "protected mode: on, no password" in banner
    other = server_factory("--no-persist", "--requirepass", "pw", *VARIANTS["fast"])
    banner = next(line for line in other.log if "listening on" in line)
    assert f"event loop: uvloop, parser: {parser_in_use('auto')}" in banner
    assert "persistence: off" in banner
    assert "protected mode: off, password required" in banner


def test_a_second_signal_exits_at_once(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    r.set("big", "x" * 1_000_000)
    with server.connect() as stuck:
        # Replies this client never reads: its connection cannot finish flushing.
        stuck.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 50)
        wait_for(lambda: r.info("stats")["keyspace_hits"] >= 50, 10, "the GETs to run")
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_log("stop requested")
        assert server.proc.poll() is None  # still waiting for the stuck client
        server.proc.send_signal(signal.SIGTERM)
        assert exit_code(server) == 1
    assert any("second stop signal: exiting at once" in line for line in server.log)


def test_shutdown_is_refused_inside_a_transaction(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    r = client(server)
    transaction = r.pipeline(transaction=True)
    transaction.execute_command("SHUTDOWN")  # type: ignore[no-untyped-call]
    with pytest.raises(redis.ResponseError) as caught:
        transaction.execute()
    assert "Command not allowed inside a transaction" in str(caught.value)
    assert server.proc.poll() is None
    assert r.ping()
