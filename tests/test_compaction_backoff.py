"""A compaction that keeps failing (a nearly full disk): the automatic attempts back off, each
attempt costs one new log file at most, and writes are never refused because of the
compaction's own temporary file; in-process through the disk seam, and on a real server with
a file-size limit."""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from conftest import ServerProcess, wait_for
from kvstore.commands import Dispatcher, ServerState, Session
from kvstore.config import ServerConfig
from kvstore.keyspace import Databases, Keyspace
from kvstore.persistence import Persistence
from kvstore.persistence.disk import Disk
from kvstore.persistence.log import list_logs
from kvstore.persistence.manager import RETRY_FIRST_SECONDS
from kvstore.protocol import ReplyError
from kvstore.protocol.replies import OK
from kvstore.server.assembly import persistence_settings

NO_SPACE = OSError(28, "No space left on device")


class SeamDisk(Disk):
    """A disk with room for the log but not for a snapshot: writes to the temp snapshot fail.
    With ``temp_path`` set, the log cannot be written either while that file exists (it holds
    the disk's last free space)."""

    def __init__(self) -> None:
        self.temp_fds: set[int] = set()
        self.temp_path = ""

    def open_new(self, path: str) -> int:
        fd = super().open_new(path)
        if ".tmp." in path:
            self.temp_fds.add(fd)  # in the child that writes it
        return fd

    def write(self, fd: int, data: memoryview | bytes) -> int:
        if fd in self.temp_fds or (self.temp_path and os.path.exists(self.temp_path)):
            raise NO_SPACE
        return super().write(fd, data)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """Persistence on a real directory with a dispatcher, run without a server."""

    def __init__(self, directory: Path, disk: Disk, clock: Clock | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.db = Keyspace()
        settings = persistence_settings(
            ServerConfig(
                dir=str(directory),
                appendfsync="no",
                auto_aof_rewrite_min_size=1,
                auto_aof_rewrite_percentage=1,
            )
        )
        if clock is None:
            self.persistence = Persistence(settings, self.db, disk)
        else:
            self.persistence = Persistence(settings, self.db, disk, clock=clock)
        self.persistence.open(self.loop)
        self.dispatcher = Dispatcher(journal=self.persistence.journal)
        self.session = Session(ServerState(dbs=Databases.with_first(self.db)))
        self.directory = directory

    def write(self, key: bytes) -> object:
        reply = self.dispatcher.execute(self.session, [b"SET", key, b"v" * 100])
        self.persistence.journal.flush()  # then the compaction check, as after each loop turn
        return reply

    def settle(self) -> None:
        """Run the loop until no snapshot is being written (the child's exit is reported)."""

        async def idle() -> None:
            while self.persistence.in_progress:
                await asyncio.sleep(0.005)

        self.loop.run_until_complete(asyncio.wait_for(idle(), 30))

    def logs(self) -> int:
        return len(list_logs(str(self.directory)))

    def close(self) -> None:
        self.persistence.close(snapshot=False)
        self.loop.close()


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[tuple[Node, Clock]]:
    clock = Clock()
    disk = SeamDisk()
    node = Node(tmp_path, disk, clock)
    yield node, clock
    node.close()


def test_failed_compactions_back_off_doubling(failing: tuple[Node, Clock]) -> None:
    node, clock = failing
    attempts = []
    for round_ in range(6):
        for i in range(20):
            assert node.write(b"k%d-%d" % (round_, i)) == OK  # never refused
            node.settle()
        attempts.append(node.persistence.failures)
        clock.now += RETRY_FIRST_SECONDS * 2**round_  # just enough for one more attempt
    # One attempt per wait, not one per write; each attempt switched to one new log.
    assert attempts == [1, 2, 3, 4, 5, 6]
    assert node.logs() == 7
    info = node.persistence.info()
    assert info["aof_rewrites_consecutive_failures"] == 6
    assert info["aof_last_write_status"] == "ok"
    assert info["aof_last_bgrewrite_status"] == "err"


def test_the_wait_is_capped_and_a_success_resets_it(failing: tuple[Node, Clock]) -> None:
    node, clock = failing
    for _ in range(12):
        clock.now += 3600
        node.write(b"k")
        node.settle()
    assert node.persistence.failures == 12
    clock.now += 599
    node.write(b"k")
    node.settle()
    assert node.persistence.failures == 12  # waiting: ten minutes at most
    node.persistence.disk = Disk()  # the disk has room again
    clock.now += 1
    node.write(b"k")
    node.settle()
    assert node.persistence.failures == 0
    assert node.persistence.info()["aof_last_bgrewrite_status"] == "ok"
    assert node.logs() == 1


def test_the_live_log_is_not_refused_for_the_snapshots_temp_file(tmp_path: Path) -> None:
    disk = SeamDisk()
    node = Node(tmp_path, disk)
    try:
        node.write(b"before")
        node.settle()  # the automatic attempt failed; the next one waits
        disk.temp_path = node.persistence.temp_path
        assert node.persistence.bgrewriteaof() is not None
        # The child creates the temp file and fails; until the loop hears of its exit (it does
        # not run here), the server sees a snapshot being written, its file holding the space.
        wait_for(lambda: os.path.exists(disk.temp_path), 10, "the snapshot's temp file")
        assert node.persistence.in_progress
        # The log meets a full disk while the snapshot holds the space: the snapshot gives way.
        assert node.write(b"during") == OK
        journal = node.persistence.journal
        assert journal.refusal is None
        assert not node.persistence.in_progress
        assert not os.path.exists(disk.temp_path)
        assert node.persistence.info()["aof_last_write_status"] == "ok"
        assert node.persistence.failures >= 1
        assert node.db.get(b"during") is not None
        assert b"during" in b"".join(path.read_bytes() for path in tmp_path.glob("*.log"))
    finally:
        node.close()


def test_a_server_backs_off_when_the_snapshot_does_not_fit(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """RLIMIT_FSIZE smaller than a snapshot but not than the new log: every compaction fails,
    writes go on. Without a back-off each write would start another attempt and a new log."""
    import kvstore

    server = server_factory(
        "--dir",
        str(tmp_path),
        "--auto-aof-rewrite-min-size",
        "1000",
        "--auto-aof-rewrite-percentage",
        "1",
    )
    unlimited = resource.getrlimit(resource.RLIMIT_FSIZE)
    with kvstore.Client(server.address) as client:
        pipe = client.pipeline()
        for i in range(300):
            pipe.execute_command("SET", f"key{i}", "v" * 100)
        pipe.execute()

        def persistence() -> dict[str, str]:
            text = cast(bytes, client.execute_command("INFO", "persistence")).decode()
            return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)

        wait_for(lambda: persistence()["aof_rewrite_in_progress"] == "0", 30, "compaction")
        assert client.execute_command("BGREWRITEAOF") is not None
        wait_for(lambda: persistence()["aof_rewrites"] != "0", 30, "the first snapshot")
        wait_for(lambda: persistence()["aof_rewrite_in_progress"] == "0", 30, "compaction")
        resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (8000, unlimited[1]))
        try:
            for i in range(40):
                reply = client.execute_command("SET", f"new{i}", "v")
                assert not isinstance(reply, ReplyError)
                wait_for(lambda: persistence()["aof_rewrite_in_progress"] == "0", 30, "child")
            info = persistence()
        finally:
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, unlimited)
    # The first attempt failed and the next waits ten seconds (more than this test takes on
    # any machine but a stalled one; even then only a few more could start).
    assert len(list(tmp_path.glob("appendonly.*.log"))) <= 4
    assert 1 <= sum("writing the snapshot failed" in line for line in server.log) <= 3
    assert 1 <= int(info["aof_rewrites_consecutive_failures"]) <= 3
    assert info["aof_last_write_status"] == "ok"
