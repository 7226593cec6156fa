"""Persistence in-process: the record scanner, the snapshot format, replaying a log into the
table it came from, and the barrier refusing writes while a (simulated) disk fails, with real
connections holding their replies until the log holds the writes."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.commands import Dispatcher, ServerState, Session
from kvstore.commands.saving import info_when_off
from kvstore.config import ConfigError, OutputLimit, ServerConfig, load_config
from kvstore.keyspace import Databases, Keyspace
from kvstore.persistence import Persistence, records, snapshot
from kvstore.persistence import journal as journal_module
from kvstore.persistence.disk import Disk
from kvstore.persistence.journal import LogJournal
from kvstore.persistence.log import AppendLog
from kvstore.persistence.recovery import RecoveryError, recover
from kvstore.protocol import RequestLimits
from kvstore.protocol.replies import OK, ReplyError
from kvstore.protocol.resp import encode_request
from kvstore.server.assembly import persistence_settings
from kvstore.server.connection import ClientConnection
from kvstore.server.context import ConnectionContext
from kvstore.server.held import HeldReplies
from kvstore.server.paused import PausedClients
from kvstore.server.protection import Admission
from kvstore.server.registry import Registry

NOW = 1_700_000_000_000


def frozen_db() -> Keyspace:
    return Keyspace(clock=lambda: NOW)


def table(db: Keyspace) -> dict[bytes, tuple[bytes, int | None]]:
    return {key: (value, deadline) for key, value, deadline in db.items()}


# -- records --------------------------------------------------------------------------------


def sample_log() -> bytes:
    return (
        records.encode_set(b"a", b"1", None)
        + records.encode_set(b"b", b"two words\r\n", NOW + 5000)
        + records.encode_del(b"a")
        + records.FLUSHALL
        + records.encode_set(b"c", b"", None)
    )


def test_scan_applies_every_record() -> None:
    db = frozen_db()
    result = records.scan(sample_log(), db)
    assert result.intact
    assert result.records == 5
    assert table(db) == {b"c": (b"", None)}


def test_a_log_cut_at_every_byte_of_its_last_record_is_a_torn_tail() -> None:
    data = sample_log()
    last = records.encode_set(b"c", b"", None)
    start = len(data) - len(last)
    for cut in range(start + 1, len(data)):
        result = records.scan(data[:cut])
        assert result.truncated, cut
        assert result.damage is None
        assert (result.good_end, result.records) == (start, 4)


@pytest.mark.parametrize(
    "garbage",
    [b"xyz", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvv\r\n", b"*2\r\n$4\r\nEVAL\r\n$1\r\nx\r\n"],
)
def test_damage_before_the_end_is_not_a_torn_tail(garbage: bytes) -> None:
    data = sample_log()
    damaged = data[:20] + garbage + data[20:]
    result = records.scan(damaged)
    assert result.damage is not None
    assert not result.truncated
    assert result.good_end <= 20


# -- snapshots ------------------------------------------------------------------------------

entries = st.dictionaries(
    st.binary(max_size=20),
    st.tuples(st.binary(max_size=40), st.one_of(st.none(), st.integers(NOW + 1, 2**62))),
    max_size=30,
)


@given(entries, st.integers(1, 2**40))
def test_snapshot_round_trip(data: dict[bytes, tuple[bytes, int | None]], next_log: int) -> None:
    encoded = snapshot.encode(((0, k, v, d) for k, (v, d) in data.items()), next_log, NOW)
    db = frozen_db()
    header = snapshot.load(encoded, db)
    assert header.next_log == next_log
    assert header.count == len(data)
    assert table(db) == data


@given(entries, st.data())
def test_any_flipped_byte_fails_the_checksum(
    data: dict[bytes, tuple[bytes, int | None]], draw: st.DataObject
) -> None:
    encoded = bytearray(snapshot.encode(((0, k, v, d) for k, (v, d) in data.items()), 1, NOW))
    index = draw.draw(st.integers(0, len(encoded) - 1))
    encoded[index] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(snapshot.SnapshotDamagedError):
        snapshot.load(bytes(encoded), frozen_db())


def test_streamed_snapshot_equals_the_encoded_one(tmp_path: Path) -> None:
    items = [(i % 3, b"k%d" % i, b"v" * (i % 50), None if i % 3 else NOW + i) for i in range(5000)]
    items.sort(key=lambda item: item[0])  # database by database, as Databases.items()
    path = tmp_path / "snap"
    disk = Disk()
    fd = disk.open_new(str(path))
    size = snapshot.write_snapshot(disk, fd, items, count=len(items), next_log=7, created_ms=NOW)
    disk.close(fd)
    assert path.read_bytes() == snapshot.encode(items, 7, NOW)
    assert size == path.stat().st_size


# -- replay equals the table -----------------------------------------------------------------

keys = st.sampled_from([b"a", b"b", b"c", b"d"])
commands = st.one_of(
    st.tuples(st.just(b"SET"), keys, st.binary(max_size=8)).map(list),
    st.tuples(
        st.just(b"SET"),
        keys,
        st.binary(max_size=8),
        st.sampled_from([b"NX", b"XX", b"GET", b"KEEPTTL"]),
    ).map(list),
    st.tuples(
        st.just(b"SET"),
        keys,
        st.binary(max_size=8),
        st.sampled_from([b"PX", b"PXAT"]),
        st.sampled_from([b"1", b"5000", b"%d" % (NOW - 1), b"%d" % (NOW + 9)]),
    ).map(list),
    st.tuples(st.just(b"SETNX"), keys, st.binary(max_size=8)).map(list),
    st.lists(keys, min_size=1, max_size=3).map(lambda k: [b"DEL", *k]),
    st.just([b"FLUSHDB"]),
    st.just([b"GET"]).map(lambda c: [*c, b"a"]),
)


class Harness:
    """A dispatcher with a journal on a real log file, and connections on fake transports,
    run without a server."""

    def __init__(self, directory: str, disk: Disk | None = None, policy: str = "always") -> None:
        self.loop = asyncio.new_event_loop()
        self.db = frozen_db()
        self.log = AppendLog(disk or Disk(), directory, 1, policy)
        self.held = HeldReplies()
        self.journal = LogJournal(self.db, self.log, self.loop, listener=self.held)
        self.dispatcher = Dispatcher(journal=self.journal)
        self.state = ServerState(dbs=Databases.with_first(self.db), runner=self.dispatcher)
        self.session = Session(self.state)

    def run(self, *args: bytes) -> object:
        return self.dispatcher.execute(self.session, list(args))

    def connect(self, transport: FakeTransport) -> ClientConnection:
        """A connection as the server makes one (call before anything is pending: the loop
        runs to make it)."""
        context = ConnectionContext(
            state=self.state,
            dispatcher=self.dispatcher,
            registry=Registry(self.state, 100, OutputLimit(0, 0, 0), None),
            admission=Admission(False),
            request_limits=RequestLimits(),
            use_hiredis=False,
            held=self.held,
            paused=PausedClients(self.state),
        )

        async def made() -> ClientConnection:
            connection = ClientConnection(context)
            connection.connection_made(cast(asyncio.Transport, transport))
            return connection

        return self.loop.run_until_complete(made())

    def close(self) -> None:
        self.log.close()
        self.loop.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(commands, max_size=25))
def test_replaying_the_log_rebuilds_the_table(script: list[list[bytes]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        harness = Harness(directory)
        try:
            for args in script:
                harness.run(*args)
            harness.journal.flush()
            replayed = frozen_db()
            recover(Disk(), directory, replayed)
            assert table(replayed) == table(harness.db)
        finally:
            harness.close()


# -- a failing disk --------------------------------------------------------------------------


class FlakyDisk(Disk):
    def __init__(self) -> None:
        self.failing = False

    def write(self, fd: int, data: memoryview | bytes) -> int:
        if self.failing:
            raise OSError(28, "No space left on device")
        return super().write(fd, data)


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1234) if name in ("peername", "sockname") else default


def send(connection: ClientConnection, *args: bytes) -> None:
    connection.data_received(encode_request(list(args)))


@pytest.fixture
def flaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harness, FlakyDisk]]:
    monkeypatch.setattr(journal_module, "RETRY_SECONDS", 0.01)
    disk = FlakyDisk()
    harness = Harness(str(tmp_path), disk)
    yield harness, disk
    harness.close()


def test_a_failing_disk_refuses_writes_holds_replies_and_recovers(
    flaky: tuple[Harness, FlakyDisk], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    harness, disk = flaky
    writer, reader = FakeTransport(), FakeTransport()
    journal = harness.journal
    writing, reading = harness.connect(writer), harness.connect(reader)

    send(writing, b"SET", b"k", b"1")
    assert writer.written == []  # held: the record waits for the flush
    disk.failing = True
    journal.flush()
    assert writer.written == []  # not acknowledged: the record is not in the file
    refusal = harness.run(b"SET", b"k", b"2")
    assert isinstance(refusal, ReplyError)
    assert refusal.message.startswith("MISCONF ")
    assert "No space left on device" in refusal.message
    send(reading, b"GET", b"k")
    assert reader.written == [b"$1\r\n1\r\n"]  # reads go on, answered at once elsewhere
    send(writing, b"GET", b"k")
    assert writer.written == []  # behind the held reply, in order
    harness.run(b"SET", b"k", b"3")
    errors = [r for r in caplog.records if "refusing writes" in r.getMessage()]
    assert len(errors) == 1  # said once, not per command

    disk.failing = False
    harness.loop.run_until_complete(_until(lambda: journal.refusal is None))
    assert writer.written == [b"+OK\r\n", b"$1\r\n1\r\n"]
    assert not isinstance(harness.run(b"SET", b"k", b"4"), ReplyError)
    journal.flush()
    replayed = frozen_db()
    recover(Disk(), str(tmp_path), replayed)
    assert table(replayed) == {b"k": (b"4", None)}


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_recovery_refuses_a_missing_log(tmp_path: Path) -> None:
    (tmp_path / "appendonly.1.log").write_bytes(records.encode_set(b"a", b"1", None))
    (tmp_path / "appendonly.3.log").write_bytes(records.encode_set(b"b", b"1", None))
    with pytest.raises(RecoveryError, match=r"appendonly\.2\.log is missing"):
        recover(Disk(), str(tmp_path), frozen_db())


def test_info_fields_follow_the_saves(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    db = Keyspace()
    persistence = Persistence(
        persistence_settings(ServerConfig(dir=str(tmp_path), appendfsync="always")), db
    )
    try:
        persistence.open(loop)
        dispatcher = Dispatcher(journal=persistence.journal)
        session = Session(ServerState(dbs=Databases.with_first(db)))
        info = persistence.info()
        assert list(info)[:3] == [
            "loading",
            "rdb_changes_since_last_save",
            "rdb_bgsave_in_progress",
        ]
        assert (info["aof_enabled"], info["aof_current_size"], info["aof_last_write_status"]) == (
            1,
            0,
            "ok",
        )
        dispatcher.execute(session, [b"SET", b"k", b"v"])
        persistence.journal.flush()
        info = persistence.info()
        assert info["rdb_changes_since_last_save"] == 1
        assert info["aof_current_size"] == len(records.frame(records.encode_set(b"k", b"v", None)))
        assert persistence.save() == OK
        info = persistence.info()
        assert info["rdb_changes_since_last_save"] == 0
        assert info["rdb_saves"] == 1
        assert (
            info["aof_base_size"]
            == info["aof_current_size"]
            == (tmp_path / "snapshot.kvs").stat().st_size
        )
    finally:
        persistence.close()
        loop.close()
    assert info_when_off()["aof_enabled"] == 0


class RecordingDisk(Disk):
    """Logs each write and fsync of the log, in order, into ``events``."""

    def __init__(self, events: list[str], fail_fsync: bool = False) -> None:
        self.events = events
        self.fail_fsync = fail_fsync

    def write(self, fd: int, data: memoryview | bytes) -> int:
        self.events.append("write")
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self.fail_fsync:
            raise OSError(5, "Input/output error")
        self.events.append("fsync")
        super().fsync(fd)


class EventTransport(FakeTransport):
    def __init__(self, events: list[str], name: str) -> None:
        super().__init__()
        self.events = events
        self.name = name

    def write(self, data: bytes) -> None:
        self.events.append(f"reply {self.name}")


def test_always_replies_after_one_fsync_shared_by_the_iteration(tmp_path: Path) -> None:
    events: list[str] = []
    harness = Harness(str(tmp_path), RecordingDisk(events), policy="always")
    try:
        first, second = EventTransport(events, "a"), EventTransport(events, "b")
        connections = [harness.connect(first), harness.connect(second)]
        for connection, key in zip(connections, (b"a", b"b"), strict=True):
            send(connection, b"SET", key, b"v")
        assert events == []  # nothing written, nothing answered yet
        harness.loop.run_until_complete(asyncio.sleep(0))  # the scheduled flush runs
        assert events == ["write", "fsync", "reply a", "reply b"]
    finally:
        harness.close()


def test_a_failing_fsync_with_always_acknowledges_nothing_until_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "RETRY_SECONDS", 0.01)
    events: list[str] = []
    disk = RecordingDisk(events, fail_fsync=True)
    harness = Harness(str(tmp_path), disk, policy="always")
    try:
        connection = harness.connect(EventTransport(events, "a"))
        send(connection, b"SET", b"k", b"v")
        harness.journal.flush()
        assert events == ["write"]
        assert harness.journal.refusal is not None
        assert "Input/output error" in harness.journal.refusal.message
        disk.fail_fsync = False
        harness.loop.run_until_complete(_until(lambda: harness.journal.refusal is None))
        assert events[-2:] == ["fsync", "reply a"]
    finally:
        harness.close()


def test_recovery_truncates_a_log_cut_at_every_byte_of_its_last_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = sample_log()
    last = records.encode_set(b"c", b"", None)
    start = len(data) - len(last)
    path = tmp_path / "appendonly.1.log"
    for cut in range(start + 1, len(data)):
        path.write_bytes(data[:cut])
        caplog.clear()
        db = frozen_db()
        recovered = recover(Disk(), str(tmp_path), db)
        assert recovered.records == 4
        assert path.stat().st_size == start
        assert table(db) == {}  # FLUSHALL was the last complete record
        assert f"cut short at offset {start}" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        sample_log(),
        sample_log()[:-3],
        sample_log()[:20] + b"garbage" + sample_log()[20:],
        sample_log() + b"+OK\r\n",
        sample_log() + b"*2\r\n$3\r\nDEL\r\n:5\r\n",
        sample_log() + b"*2\r\n*1\r\n$1\r\nx\r\n$1\r\ny\r\n",
        b"",
    ],
)
def test_fast_replay_agrees_with_the_scanner(data: bytes) -> None:
    assert_replay_agrees(data)
    assert_replay_agrees(records.frame(data))


def assert_replay_agrees(data: bytes) -> None:
    """The fast replay gives up (before applying anything, or asking to start over) only where
    the scanner finds something wrong; else both give the same result."""
    fast, slow = frozen_db(), frozen_db()
    expected = records.scan(data, slow)
    try:
        got = records.replay(data, fast)
    except records.StartOverError:
        assert not expected.intact
        return
    if got is None:
        assert not expected.intact
        assert table(fast) == {}
    else:
        assert expected.damage is None
        assert (got.records, got.good_end, got.truncated) == (
            expected.records,
            expected.good_end,
            expected.truncated,
        )
        assert table(fast) == table(slow)


record_bytes = st.one_of(
    st.tuples(st.binary(max_size=12), st.binary(max_size=70_000), st.none()).map(
        lambda r: records.encode_set(*r)
    ),
    st.tuples(st.binary(max_size=12), st.binary(max_size=12), st.integers(0, 2**62)).map(
        lambda r: records.encode_set(*r)
    ),
    st.binary(max_size=12).map(records.encode_del),
    st.just(records.FLUSHALL),
    st.sampled_from([b"*1\r\n$11\r\n\xffend-of-log\r\n", b"*2\r\n$12\r\n", b"$3\r\nSET\r\n"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(record_bytes, max_size=8), st.data())
def test_fast_replay_agrees_with_the_scanner_on_any_cut(
    pieces: list[bytes], draw: st.DataObject
) -> None:
    data = b"".join(pieces)
    assert_replay_agrees(data[: draw.draw(st.integers(0, len(data)))])
    # The same records in batches with checksums, after a log from before checksums.
    legacy = draw.draw(st.integers(0, len(pieces)))
    data = b"".join(pieces[:legacy]) + b"".join(records.frame(piece) for piece in pieces[legacy:])
    assert_replay_agrees(data[: draw.draw(st.integers(0, len(data)))])


def test_persistence_options_from_flags_and_environment() -> None:
    config = load_config([], environ={})
    assert (config.dir, config.no_persist, config.appendfsync) == ("./data", False, "everysec")
    assert config.settings()["appendonly"] == "yes"
    config = load_config(["--no-persist", "--appendfsync", "always", "--dir", "/x"], environ={})
    assert (config.dir, config.no_persist, config.appendfsync) == ("/x", True, "always")
    assert config.settings()["appendonly"] == "no"
    assert config.settings()["no-persist"] == "yes"
    assert load_config([], environ={"KVSTORE_NO_PERSIST": "yes"}).no_persist
    assert not load_config([], environ={"KVSTORE_NO_PERSIST": "0"}).no_persist
    with pytest.raises(ConfigError, match="expected yes or no"):
        load_config([], environ={"KVSTORE_NO_PERSIST": "maybe"})
    with pytest.raises(ConfigError, match="invalid choice"):
        load_config(["--appendfsync", "sometimes"], environ={})


# -- checksums -------------------------------------------------------------------------------

whole_records = st.one_of(
    st.tuples(st.binary(max_size=12), st.binary(max_size=300), st.none()).map(
        lambda r: records.encode_set(*r)
    ),
    st.tuples(st.binary(max_size=12), st.binary(max_size=12), st.integers(0, 2**62)).map(
        lambda r: records.encode_set(*r)
    ),
    st.binary(max_size=12).map(records.encode_del),
    st.just(records.FLUSHALL),
)
#: Batches of whole records, as the journal writes them (one write each).
batches_of_records = st.lists(st.lists(whole_records, min_size=1, max_size=5), max_size=6)


@settings(max_examples=200, deadline=None)
@given(batches_of_records)
def test_batches_with_checksums_replay_as_their_records(batches: list[list[bytes]]) -> None:
    framed = b"".join(records.frame(b"".join(batch)) for batch in batches)
    plain = b"".join(b"".join(batch) for batch in batches)
    got, expected = frozen_db(), frozen_db()
    result = records.scan(framed, got)
    assert result.intact
    assert result.records == records.scan(plain, expected).records
    assert table(got) == table(expected)
    assert list(records.iter_records(framed)) == list(records.iter_records(plain))


def test_a_damaged_length_before_whole_batches_is_damage_not_a_torn_tail() -> None:
    # The first batch's length made to run past the end of the file: the whole batch behind
    # it shows no crash cut this log, so refusing (with the repair named) beats truncating.
    batch = records.frame(records.encode_set(b"k", b"v", None))
    data = bytearray(batch + batch)
    data[data.index(b"$10\r\n") + 5] = ord("9")  # the first digit of the first batch's length
    result = records.scan(bytes(data), frozen_db())
    assert result.damage is not None
    assert result.good_end == 0
    assert not result.truncated
    assert_replay_agrees(bytes(data))


def test_a_checksum_record_whose_count_swallows_the_log_is_damage_for_both_replays() -> None:
    # `*3` -> `*7`: read as one array, the whole log is a single "CRC32" record holding the
    # records after it; the fast replay once counted it as a sound frame and applied nothing.
    first = records.frame(records.encode_set(b"", b"", None))
    second = records.frame(records.encode_set(b"", b"", None) * 2)
    data = bytearray(first + second)
    data[1] = ord("7")
    result = records.scan(bytes(data), frozen_db())
    assert result.damage is not None
    assert result.good_end == 0
    with pytest.raises(records.StartOverError):
        records.replay(bytes(data), frozen_db())
    assert_replay_agrees(bytes(data))


@settings(max_examples=300, deadline=None)
@given(batches_of_records.filter(lambda batches: len(batches) > 0), st.data())
def test_any_flipped_bit_is_found_and_nothing_of_its_batch_applied(
    batches: list[list[bytes]], draw: st.DataObject
) -> None:
    frames = [records.frame(b"".join(batch)) for batch in batches]
    data = bytearray(b"".join(frames))
    index = draw.draw(st.integers(0, len(data) - 1))
    data[index] ^= 1 << draw.draw(st.integers(0, 7))
    starts = [sum(map(len, frames[:i])) for i in range(len(frames))]
    hit = max(i for i, start in enumerate(starts) if start <= index)
    db, before = frozen_db(), frozen_db()
    result = records.scan(bytes(data), db)
    assert not result.intact
    assert result.good_end == starts[hit]
    # A torn tail only if the flip lengthened the last batch past the end of the file.
    assert result.damage is not None or (hit == len(frames) - 1 and index < starts[hit] + 46)
    records.scan(b"".join(frames[:hit]), before)
    assert table(db) == table(before)
    assert_replay_agrees(bytes(data))


@settings(max_examples=200, deadline=None)
@given(entries, st.data())
def test_salvage_keeps_every_record_before_a_flipped_byte(
    data: dict[bytes, tuple[bytes, int | None]], draw: st.DataObject
) -> None:
    items = [(0, k, v, d) for k, (v, d) in data.items()]
    encoded = bytearray(snapshot.encode(items, 3, NOW))
    index = draw.draw(st.integers(0, len(encoded) - 1))
    encoded[index] ^= 1 << draw.draw(st.integers(0, 7))
    ends = list(itertools.accumulate((16 + len(k) + len(v) for _, k, v, _ in items), initial=32))
    intact = sum(1 for end in ends[1:] if end <= index)  # the records wholly before the flip
    found = snapshot.salvage(bytes(encoded))
    assert found.items[:intact] == items[:intact]
    if index >= ends[-1] or index < 32:  # the header or the trailer: every record parses
        assert found.items == items
