"""Events a client can repeat at will (protocol errors, idle clients, refusals) are logged at
most once per interval for each kind; the rest are counted, and the count reaches the log."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import pytest

from conftest import VARIANTS, ServerProcess, read_to_eof, wait_for
from kvstore.server.guards import RateLimitedLog

Factory = Callable[..., ServerProcess]
SUPPRESSED = re.compile(r" \((\d+) similar messages suppressed\)$")
INTERVAL = 10.0  # RateLimitedLog's default, which the server uses


def events_stood_for(lines: list[str]) -> int:
    """How many events the lines report: each itself and the similar ones it names."""
    total = 0
    for line in lines:
        match = SUPPRESSED.search(line)
        total += 1 + (int(match.group(1)) if match else 0)
    return total


def stopped_log(server: ServerProcess) -> list[str]:
    """The server's whole log, once it has stopped gracefully."""
    server.proc.terminate()
    wait_for(lambda: any("server stopped" in line for line in server.log), 30, "the stop")
    return server.log


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_protocol_errors_are_logged_at_a_bounded_rate(
    server_factory: Factory, variant: str
) -> None:
    server = server_factory(*VARIANTS[variant], "--no-persist")
    bad = 300
    started = time.monotonic()
    for _ in range(bad):
        with server.connect() as sock:
            sock.sendall(b"*1\r\n$x\r\n")
            assert read_to_eof(sock) == b"-ERR Protocol error: invalid bulk length\r\n"
    elapsed = time.monotonic() - started
    lines = [line for line in stopped_log(server) if ": protocol error" in line]
    # One line per interval at most, and the count of the rest at the stop.
    assert len(lines) <= 2 + elapsed / INTERVAL, lines
    assert any(SUPPRESSED.search(line) for line in lines), lines
    assert events_stood_for(lines) == bad


def test_idle_clients_closed_together_are_logged_once(server_factory: Factory) -> None:
    server = server_factory("--no-persist", "--timeout", "1")
    idle = [server.connect() for _ in range(50)]
    for sock in idle:
        assert read_to_eof(sock, timeout=30) == b""
        sock.close()
    lines = [line for line in stopped_log(server) if "idle for over 1s" in line]
    assert len(lines) <= 2, lines  # closed by one or two sweeps, a second apart
    assert events_stood_for(lines) == 50


# -- RateLimitedLog on a clock of its own ----------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limited_log_counts_what_it_suppresses(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limited = RateLimitedLog(logging.WARNING, interval=10.0, clock=clock)
    caplog.set_level(logging.INFO, logger="kvstore.server")
    for i in range(5):
        limited("event %d", i)
    assert caplog.messages == ["event 0"]
    limited.flush()  # the interval is not over: nothing yet
    assert caplog.messages == ["event 0"]
    clock.now += 10.0
    limited.flush()  # the last event not logged stands for the three before it
    assert caplog.messages == ["event 0", "event 4 (3 similar messages suppressed)"]
    limited("event 5")  # within the interval the flush opened
    clock.now += 10.0
    limited("event 6")  # the next line logged carries the count
    assert caplog.messages[2:] == ["event 6 (1 similar messages suppressed)"]
    limited("event 7")
    limited.flush(force=True)  # at the stop, whatever the time
    assert caplog.messages[3:] == ["event 7"]
    limited.flush(force=True)
    assert len(caplog.messages) == 4
