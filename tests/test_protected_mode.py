"""Protected mode: with no password, clients not on the loopback interface are turned away.

These tests send traffic to loopback only. The decision about a peer's address is a pure
function, tested directly on addresses of every kind; the refusal itself is tested on a real
server (in this process) whose "is this peer on loopback?" seam says no, so a loopback client
stands for a remote one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from conftest import ServerProcess, free_port
from kvstore.config import load_config
from kvstore.server.app import Server
from kvstore.server.assembly import assemble
from kvstore.server.listeners import StartupError
from kvstore.server.protection import DENIED, RefusalLog, is_loopback_peer, is_protected


@pytest.mark.parametrize(
    ("peername", "loopback"),
    [
        (("127.0.0.1", 5000), True),
        (("127.3.2.1", 5000), True),
        (("::1", 5000, 0, 0), True),
        (("::ffff:127.0.0.1", 5000, 0, 0), True),
        (("10.0.0.7", 5000), False),
        (("192.0.2.2", 5000), False),
        (("203.0.113.9", 5000), False),
        (("::ffff:10.0.0.7", 5000, 0, 0), False),
        (("fd00::2", 5000, 0, 0), False),
        (("fe80::1%eth0", 5000, 0, 2), False),
        (("0.0.0.0", 5000), False),
        (("not an address", 5000), False),
        ("", True),  # a Unix socket's peer has no address: it is on this machine
        (None, True),
    ],
)
def test_is_loopback_peer(peername: object, loopback: bool) -> None:
    assert is_loopback_peer(peername) is loopback


@pytest.mark.parametrize(
    ("protected_mode", "has_password", "protected"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, False)],
)
def test_is_protected(protected_mode: bool, has_password: bool, protected: bool) -> None:
    assert is_protected(protected_mode, has_password) is protected


def test_refusals_are_logged_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    refusals = RefusalLog(interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="kvstore.server"):
        for second in range(100):
            now[0] = 100.0 + second * 0.5  # 100 refusals over 50 seconds
            refusals.refused(f"10.0.0.{second}:1234")
        assert len(caplog.records) == 1
        assert "10.0.0.0:1234" in caplog.records[0].getMessage()
        now[0] = 170.0
        refusals.refused("10.0.0.200:1234")
    assert len(caplog.records) == 2
    message = caplog.records[1].getMessage()
    assert "10.0.0.200:1234" in message
    assert "and 99 more" in message
    assert "--requirepass" in message
    assert "--protected-mode no" in message


def test_denied_line_names_both_fixes() -> None:
    assert DENIED.startswith(b"-DENIED ")
    assert DENIED.endswith(b"\r\n")
    assert DENIED.count(b"\n") == 1
    assert b"--requirepass" in DENIED
    assert b"--protected-mode no" in DENIED


# -- the refusal, on a server whose loopback test is told every peer is remote ------------------


def run_with_server(
    argv: list[str], scenario: Callable[[Server], Awaitable[None]], remote: bool = True
) -> None:
    async def start() -> Server:
        for _ in range(20):  # again on another port if another process took this one first
            port = free_port()
            try:
                server = await assemble(
                    load_config(["--port", str(port), "--no-persist", *argv], {})
                )
            except StartupError as exc:
                if "address already in use" not in str(exc):
                    raise
                continue
            if remote:
                server.admission.is_loopback = lambda peername: False
            await server.start()
            return server
        raise AssertionError("no free port to listen on")

    async def main() -> None:
        server = await start()
        try:
            await scenario(server)
        finally:
            await server.shutdown()

    asyncio.run(main())


async def talk(server: Server, request: bytes) -> bytes:
    """Send ``request`` and read until the server closes or a reply line arrives."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


def test_remote_client_gets_one_line_and_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(server: Server) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
        writer.write(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        received = await asyncio.wait_for(reader.read(), 10)  # to the end: it was closed
        writer.close()
        assert received == DENIED
        assert server.state.dbs[0].get(b"k") is None  # nothing it sent was run
        for _ in range(5):
            assert await talk(server, b"ping\n") == DENIED
        assert server.state.sessions == {}

    with caplog.at_level(logging.WARNING, logger="kvstore.server"):
        run_with_server([], scenario)
    refusals = [r for r in caplog.records if "protected mode" in r.getMessage()]
    assert len(refusals) == 1  # six refusals, one log line


@pytest.mark.parametrize("argv", [["--requirepass", "pw"], ["--protected-mode", "no"]])
def test_either_fix_lets_remote_clients_in(argv: list[str]) -> None:
    async def scenario(server: Server) -> None:
        assert not server.protected
        reply = await talk(server, b"ping\r\n")
        assert reply == (
            b"error: authentication required\r\n" if server.state.requirepass else b"PONG\r\n"
        )

    run_with_server(argv, scenario)


def test_loopback_clients_are_served_in_protected_mode() -> None:
    async def scenario(server: Server) -> None:
        assert server.protected
        assert await talk(server, b"ping\r\n") == b"PONG\r\n"

    run_with_server([], scenario, remote=False)


def test_protected_mode_is_on_by_default(fast_server: ServerProcess) -> None:
    assert "protected mode: on" in "\n".join(fast_server.log)
    with fast_server.connect() as sock:  # a loopback client is served
        sock.sendall(b"ping\r\n")
        assert sock.recv(100) == b"PONG\r\n"


def test_banner_says_when_protected_mode_is_off(
    server_factory: Callable[..., ServerProcess],
) -> None:
    for argv in (["--protected-mode", "no"], ["--requirepass", "pw"]):
        server = server_factory(*argv)
        assert "protected mode: off" in "\n".join(server.log)


def test_listening_beyond_loopback_without_a_password_warns(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """Bound to every interface, the server says so; loopback clients are still served."""
    server = server_factory("--bind", "0.0.0.0")
    log = "\n".join(server.log)
    assert "protected mode: bound to 0.0.0.0 with no password" in log
    assert "protected mode: on" in log
    with server.connect() as sock:
        sock.sendall(b"ping\r\n")
        assert sock.recv(100) == b"PONG\r\n"
    quiet = server_factory("--bind", "0.0.0.0", "--requirepass", "pw")
    assert "protected mode: bound" not in "\n".join(quiet.log)
