"""``./client <node> watch PATTERN`` as a real process: the lines it prints as keys change, and
how it ends (SIGTERM, Ctrl-C, the server going away, notifications off)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from typing import Any

import redis

from conftest import CLIENT, ServerProcess, wait_for


class Watch:
    """A running ``watch``; its stdout lines are collected by a thread."""

    def __init__(self, server: ServerProcess, pattern: str, *node: str) -> None:
        """``node``: the words naming the server (its address by default)."""
        self.proc = subprocess.Popen(
            [sys.executable, str(CLIENT), *(node or [server.address]), "watch", pattern],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip(b"\n"))

    def next_line(self, timeout: float = 10) -> bytes:
        return self.lines.get(timeout=timeout)

    def finish(self, timeout: float = 10) -> tuple[int, bytes]:
        assert self.proc.stderr is not None
        code = self.proc.wait(timeout)
        return code, self.proc.stderr.read()


def _subscribed(client: redis.Redis, channels: int = 1) -> bool:
    return int(client.execute_command("PUBSUB", "NUMPAT")) >= channels  # type: ignore[no-untyped-call]


def test_watch_prints_each_change_and_stops_on_sigterm(server_factory: Any) -> None:
    server: ServerProcess = server_factory("--notify-keyspace-events", "KA")
    client = redis.Redis(port=server.port)
    watch = Watch(server, "user:*")
    wait_for(lambda: _subscribed(client), 10, "the watch to subscribe")
    client.set("user:1", "ann")
    client.set("other", "x")  # not matching: not printed
    client.incr("user:2")
    client.expire("user:1", 100)
    client.rename("user:2", "user:3")
    client.delete("user:1")
    client.set("user:4", "v", px=1)
    wait_for(lambda: client.get("user:4") is None, 10, "user:4's deadline")
    expected = [
        b"set user:1",
        b"incrby user:2",
        b"expire user:1",
        b"rename_from user:2",
        b"rename_to user:3",
        b"del user:1",
        b"set user:4",
        b"expire user:4",
        b"expired user:4",
    ]
    assert [watch.next_line() for _ in expected] == expected
    watch.proc.send_signal(signal.SIGTERM)
    code, stderr = watch.finish()
    assert (code, stderr) == (0, b"")
    client.close()


def test_watch_follows_the_selected_database(server_factory: Any) -> None:
    server: ServerProcess = server_factory("--notify-keyspace-events", "KA")
    db0, db3 = redis.Redis(port=server.port), redis.Redis(port=server.port, db=3)
    by_flag = Watch(server, "k*", "-n", "3", server.address)
    by_url = Watch(server, "k3*", f"redis://127.0.0.1:{server.port}/3")
    wait_for(lambda: _subscribed(db0, 2), 10, "both watches to subscribe")
    db0.set("k0", "in database 0: not printed")
    db3.set("k3", "v")
    assert by_flag.next_line() == b"set k3"
    assert by_url.next_line() == b"set k3"
    for watch in (by_flag, by_url):
        watch.proc.send_signal(signal.SIGTERM)
        assert watch.finish() == (0, b"")
    db0.close()
    db3.close()


def test_ctrl_c_and_a_server_that_goes_away(server_factory: Any) -> None:
    server: ServerProcess = server_factory("--notify-keyspace-events", "KEA")
    client = redis.Redis(port=server.port)
    interrupted = Watch(server, "*")
    lost = Watch(server, "k")
    wait_for(lambda: _subscribed(client, 2), 10, "both watches to subscribe")
    client.set("k", "1")
    assert interrupted.next_line() == b"set k"
    assert lost.next_line() == b"set k"
    interrupted.proc.send_signal(signal.SIGINT)
    assert interrupted.finish()[0] == 130
    client.close()
    server.stop()
    code, stderr = lost.finish()
    assert code == 2
    assert stderr.startswith(b"error: connection to ")
    assert b"lost" in stderr


def test_watch_refuses_when_notifications_are_off(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, str(CLIENT), server.address, "watch", "*"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"CONFIG SET notify-keyspace-events KA" in result.stderr
