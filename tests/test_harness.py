"""The test helpers themselves (conftest.py): a server is started on a port no other process
holds, and log lines are waited for rather than read before they arrive."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import conftest
from conftest import AddressInUseError, ServerProcess, closed_port, start_server


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process could hold: bound and listening here."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_server_whose_port_was_taken_starts_on_another(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = [taken_port]  # the first pick is taken between choosing it and binding it
    pick = conftest.free_port
    monkeypatch.setattr(conftest, "free_port", lambda: picks.pop() if picks else pick())
    server = start_server("--no-persist")
    try:
        assert server.port != taken_port
        with server.connect() as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"
    finally:
        server.stop()


def test_a_server_that_cannot_bind_is_not_taken_for_started(taken_port: int) -> None:
    with pytest.raises(AddressInUseError) as failure:
        conftest._start_server(("--no-persist",), taken_port, None)
    assert failure.value.port == taken_port


def test_closed_port_refuses_connections() -> None:
    with closed_port() as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10).close()


def fake_server(script: str) -> ServerProcess:
    """A process read like a server: it says it listens, then runs ``script`` once a line
    comes on its stdin (``go``), writing its log lines to stderr."""
    ready = "import sys\nprint('listening on', file=sys.stderr, flush=True)\nsys.stdin.readline()\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", ready + script],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = ServerProcess(proc, 0)
    server.wait_ready()
    return server


def go(server: ServerProcess) -> None:
    assert server.proc.stdin is not None
    server.proc.stdin.write("go\n")
    server.proc.stdin.flush()


def test_wait_for_log_waits_for_a_line_written_later() -> None:
    # The line is written only once the test has looked for it and not found it.
    server = fake_server(
        "print('the late line', file=sys.stderr, flush=True)\nsys.stdin.readline()\n"
    )
    try:
        assert not any("the late line" in line for line in server.log)
        go(server)
        assert server.wait_for_log("the late line") == "the late line"
    finally:
        server.stop()


def test_wait_for_log_fails_at_once_when_the_server_ended_without_the_line() -> None:
    server = fake_server("")
    go(server)
    server.finish_log()
    with pytest.raises(AssertionError, match="ended without logging 'never'"):
        server.wait_for_log("never", timeout=600)


def test_finish_log_holds_every_line_of_an_ended_server() -> None:
    server = fake_server("for i in range(20000): print(i, file=sys.stderr)\n")
    go(server)
    assert server.finish_log()[-1] == "19999"
    assert len(server.log) == 20001
