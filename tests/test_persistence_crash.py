"""Crashes: SIGKILL at random moments loses no acknowledged write (always, everysec); a real
write error (RLIMIT_FSIZE) refuses writes with MISCONF and recovers by itself."""

from __future__ import annotations

import resource
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ServerProcess, wait_for
from crashloop import crash_rounds, roundtrip
from kvstore.protocol import ReplyError, ReplyParser, encode_request
from kvstore.protocol.resp_replies import INCOMPLETE


def test_sigkill_loses_no_acknowledged_write_with_always(tmp_path: Path) -> None:
    model = crash_rounds(str(tmp_path), rounds=20, policy="always", seed=1)
    assert model.acked > 20  # every round wrote something
    assert model.present


def test_sigkill_loses_no_acknowledged_write_with_everysec(tmp_path: Path) -> None:
    model = crash_rounds(str(tmp_path), rounds=6, policy="everysec", seed=2)
    assert model.present


def test_crashes_during_compaction_lose_nothing(tmp_path: Path) -> None:
    small = ("--auto-aof-rewrite-min-size", "4000", "--auto-aof-rewrite-percentage", "10")
    model = crash_rounds(str(tmp_path), rounds=4, policy="always", seed=3, extra=small)
    assert model.present
    assert (tmp_path / "snapshot.kvs").exists()  # compactions happened


class Conn:
    def __init__(self, server: ServerProcess) -> None:
        self.sock = server.connect()
        self.parser = ReplyParser()

    def call(self, *args: bytes) -> object:
        return roundtrip(self.sock, self.parser, [list(args)])[0]


def test_a_real_write_error_refuses_writes_then_recovers(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory("--dir", str(tmp_path), "--appendfsync", "always")
    writer, prober = Conn(server), Conn(server)
    assert prober.call(b"SET", b"before", b"1") == b"OK"
    size = sum(path.stat().st_size for path in tmp_path.glob("appendonly.*.log"))
    unlimited = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (size + 100, unlimited[1]))
    # This write's record does not fit: its reply waits until the record is in the log.
    writer.sock.sendall(encode_request([b"SET", b"big", b"x" * 500]))
    server.wait_for_log("refusing writes")
    refused = prober.call(b"SET", b"k", b"v")
    assert isinstance(refused, ReplyError)
    assert refused.message.startswith("MISCONF ")
    assert "File too large" in refused.message
    assert prober.call(b"GET", b"before") == b"1"  # reads go on
    writer.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        writer.sock.recv(100)  # not acknowledged while the disk fails
    writer.sock.setblocking(True)

    resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, unlimited)
    wait_for(lambda: prober.call(b"SET", b"after", b"2") == b"OK", 10, "writes accepted again")
    assert roundtrip_pending(writer) == b"OK"
    server.wait_for_log("writable again")
    server.proc.send_signal(signal.SIGKILL)
    assert sum("refusing writes" in line for line in server.finish_log()) == 1
    restarted = server_factory("--dir", str(tmp_path))
    again = Conn(restarted)
    for key, value in {b"before": b"1", b"big": b"x" * 500, b"after": b"2"}.items():
        assert again.call(b"GET", key) == value
    assert again.call(b"GET", b"k") is None


def roundtrip_pending(conn: Conn) -> object:
    """The reply to a request already sent."""
    while True:
        reply = conn.parser.gets()
        if reply is not INCOMPLETE:
            return reply
        conn.parser.feed(conn.sock.recv(65536))
