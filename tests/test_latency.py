"""The latency monitor and the latency histograms: LATENCY's replies and the settings next to
a real redis-server's, and the recording rules in process (a command made slow on purpose)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ServerProcess
from kvstore.commands import CommandStats, Dispatcher, ServerState, Session
from kvstore.commands.latency import doctor, graph
from kvstore.commands.latency_monitor import (
    MAX_SAMPLES,
    LatencyMonitor,
    cumulative_buckets,
    new_histogram,
    percentile_us,
)
from kvstore.commands.table import COMMANDS, Command
from kvstore.eviction import EvictingKeyspace, MemoryGuard
from kvstore.persistence.disk import Disk
from kvstore.persistence.log import AppendLog
from kvstore.protocol import Reply, Status
from redis_compare import RawConnection, RedisPair


@pytest.fixture(scope="module")
def pair(servers: tuple[int, ServerProcess]) -> Iterator[RedisPair]:
    redis_port, kvstore = servers
    connections = RedisPair(redis_port, kvstore.port)
    yield connections
    for args in (
        ("CONFIG", "SET", "latency-monitor-threshold", "0"),
        ("CONFIG", "SET", "latency-tracking", "yes"),
        ("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9"),
    ):
        connections.both(*args)
    connections.close()


@pytest.mark.parametrize(
    "args",
    [
        ("LATENCY", "HELP"),
        ("LATENCY", "HELP", "xxx"),
        ("LATENCY", "HISTORY", "blabla"),
        ("LATENCY", "RESET", "blabla"),
        ("LATENCY", "GRAPH", "blabla"),
        ("LATENCY", "HISTOGRAM", "blabla", "nosuch|sub"),
        ("CONFIG", "SET", "latency-monitor-threshold", "-1"),
        ("CONFIG", "SET", "latency-monitor-threshold", "x"),
        ("CONFIG", "SET", "latency-tracking", "maybe"),
        ("CONFIG", "SET", "latency-tracking-info-percentiles", "10.0 50.0 a"),
        ("CONFIG", "SET", "latency-tracking-info-percentiles", "10.0 50.0 101.0"),
        ("CONFIG", "GET", "latency-monitor-threshold"),
        ("CONFIG", "GET", "latency-tracking"),
        ("CONFIG", "GET", "latency-tracking-info-percentiles"),
    ],
)
def test_replies_match_redis(pair: RedisPair, args: tuple[str, ...]) -> None:
    assert pair.check(*args) is None


def test_percentiles_are_written_as_redis_writes_them(pair: RedisPair) -> None:
    assert (
        pair.check("CONFIG", "SET", "latency-tracking-info-percentiles", "0.0 50.0 100.0") is None
    )
    assert pair.check("CONFIG", "GET", "latency-tracking-info-percentiles") is None
    assert pair.check("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9") is None


def _histogram(conn: RawConnection, *names: str) -> dict[bytes, list[object]]:
    reply = conn.call("LATENCY", "HISTOGRAM", *names)
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _shape(histograms: dict[bytes, list[object]]) -> dict[bytes, int]:
    """Each command's calls, checking the entry's layout: calls N histogram_usec [...]."""
    shape: dict[bytes, int] = {}
    for name, entry in histograms.items():
        calls = entry[1]
        assert isinstance(calls, int)
        assert entry[0] == b"calls"
        assert entry[2] == b"histogram_usec"
        buckets = entry[3]
        assert isinstance(buckets, list)
        assert len(buckets) % 2 == 0
        counts = buckets[1::2]
        assert counts == sorted(counts)  # cumulative
        assert counts[-1] == calls
        shape[name] = calls
    return shape


def test_histograms_count_commands_and_subcommands_as_redis(pair: RedisPair) -> None:
    shapes = []
    for conn in (pair.redis, pair.kvstore):
        assert conn.call("CONFIG", "RESETSTAT") == ("+", b"OK")
        after_reset = _shape(_histogram(conn))
        conn.call("SET", "a", "b")
        conn.call("SET", "c", "d")
        conn.call("GET", "a")
        conn.call("CLIENT", "ID")
        conn.call("CLIENT", "GETNAME")
        shapes.append(
            (
                after_reset,
                _shape(_histogram(conn, "set", "get", "blabla")),
                _shape(_histogram(conn, "client")),
                _shape(_histogram(conn, "client|id")),
            )
        )
    assert shapes[1] == shapes[0]
    assert shapes[0][0] == {b"config|resetstat": 1}


def test_latency_tracking_off_keeps_no_histograms(pair: RedisPair) -> None:
    for conn in (pair.redis, pair.kvstore):
        assert conn.call("CONFIG", "RESETSTAT") == ("+", b"OK")
        assert conn.call("CONFIG", "SET", "latency-tracking", "no") == ("+", b"OK")
        conn.call("SET", "a", "b")
        assert _histogram(conn, "set") == {}
        info = conn.call("INFO", "latencystats")
        assert b"latency_percentiles_usec_set" not in info
        assert conn.call("CONFIG", "SET", "latency-tracking", "yes") == ("+", b"OK")
        conn.call("SET", "a", "b")
        info = conn.call("INFO", "latencystats")
        assert b"latency_percentiles_usec_set:p50=" in info


def test_info_latencystats_lists_the_configured_percentiles(pair: RedisPair) -> None:
    lines = []
    for conn in (pair.redis, pair.kvstore):
        conn.call("CONFIG", "SET", "latency-tracking-info-percentiles", "0 50 100")
        conn.call("SET", "k", "v")
        info = conn.call("INFO", "latencystats").decode()
        line = next(x for x in info.splitlines() if x.startswith("latency_percentiles_usec_set:"))
        lines.append([part.split("=")[0] for part in line.split(":", 1)[1].split(",")])
        conn.call("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9")
    assert lines[0] == lines[1] == [["p0"], ["p50"], ["p100"]] or lines[0] == lines[1]


# -- in process: the recording rules -----------------------------------------------------------


def _slow(session: Session, args: list[bytes]) -> Reply:
    time.sleep(0.003)  # the command's own work, made slow: not a synchronisation
    return Status("OK")


#: The command table with two commands slow on purpose, one of them flagged ``fast``.
SLOW_TABLE = {
    **COMMANDS,
    b"test-slow": Command("test-slow", 1, frozenset(), _slow, "server", "Slow."),
    b"test-slow-fast": Command("test-slow-fast", 1, frozenset({"fast"}), _slow, "server", "."),
}


@pytest.fixture
def session() -> Session:
    stats = CommandStats()
    dispatcher = Dispatcher(SLOW_TABLE, stats=stats)
    return Session(ServerState(stats=stats, runner=dispatcher))


def run(session: Session, *args: bytes) -> object:
    runner = session.server.runner
    assert isinstance(runner, Dispatcher)
    return runner.execute(session, list(args))


def test_slow_commands_become_events_once_the_monitor_is_on(session: Session) -> None:
    run(session, b"test-slow")
    assert run(session, b"latency", b"latest") == []  # off by default, as in Redis
    session.server.stats.latency.threshold_ms = 1
    runner = session.server.runner
    assert isinstance(runner, Dispatcher)
    runner.configure_slowlog()
    run(session, b"test-slow")
    run(session, b"test-slow-fast")
    run(session, b"get", b"k")  # fast: under the threshold
    latest = run(session, b"latency", b"latest")
    assert isinstance(latest, list)
    assert sorted(entry[0] for entry in latest) == [b"command", b"fast-command"]
    for _name, when, ms, worst in latest:
        assert abs(when - time.time()) < 60
        assert ms >= 3
        assert worst >= ms
    history = run(session, b"latency", b"history", b"command")
    assert isinstance(history, list)
    assert len(history) == 1
    assert b"command: 1 latency spikes" in run(session, b"latency", b"doctor")  # type: ignore[operator]
    assert b"command - high" in run(session, b"latency", b"graph", b"command")  # type: ignore[operator]
    assert run(session, b"latency", b"reset", b"command", b"command", b"nosuch") == 1
    assert run(session, b"latency", b"reset") == 1
    assert run(session, b"latency", b"latest") == []


def test_events_keep_one_sample_a_second_and_the_maximum() -> None:
    monitor = LatencyMonitor(threshold_ms=10)
    monitor.add_if_needed("command", 5)  # under the threshold
    assert monitor.events == {}
    monitor.add("command", 20, now=100)
    monitor.add("command", 30, now=100)  # the same second: the larger stays
    monitor.add("command", 25, now=100)
    monitor.add("command", 15, now=101)
    series = monitor.events["command"]
    assert list(series.samples) == [(100, 30), (101, 15)]
    assert series.max_ms == 30
    for second in range(200, 200 + MAX_SAMPLES + 5):
        monitor.add("command", 12, now=second)
    assert len(series.samples) == MAX_SAMPLES
    assert series.max_ms == 30
    text = graph("command", series, now=200 + MAX_SAMPLES + 5)
    assert text.startswith("command - high 12 ms, low 12 ms (all time high 30 ms)\n")


def test_doctor_says_whether_the_monitor_is_on() -> None:
    assert "latency-monitor-threshold" in doctor(LatencyMonitor(0))
    assert "No latency spike" in doctor(LatencyMonitor(5))


def test_histogram_buckets_are_redis_s_powers_of_two() -> None:
    histogram = new_histogram()
    for nanoseconds in (100, 1000, 1500, 3000, 70_000, 70_000):
        histogram[nanoseconds.bit_length()] += 1
    # First bucket: under 1024 ns, shown as 1 us; then 2048 ns (2 us), 4096 ns (4 us)...
    assert cumulative_buckets(histogram) == [(1, 2), (2, 3), (4, 4), (131, 6)]
    assert percentile_us(histogram, 30) == 1.023
    assert percentile_us(histogram, 50) == 2.047
    assert percentile_us(histogram, 100) == 131.071
    assert percentile_us(new_histogram(), 50) == 0.0


@pytest.mark.parametrize(
    ("policy", "events"),
    [("always", ["aof-write", "aof-fsync-always"]), ("everysec", ["aof-write"])],
)
def test_the_log_reports_its_writes_and_fsyncs(
    tmp_path: Path, policy: str, events: list[str]
) -> None:
    log = AppendLog(Disk(), str(tmp_path), 1, policy)
    heard: list[tuple[str, int]] = []
    log.latency = lambda event, ms: heard.append((event, ms))
    try:
        log.append(b"record")
    finally:
        log.close()
    assert [event for event, _ in heard] == events
    assert all(ms >= 0 for _, ms in heard)


def test_eviction_cycles_are_reported() -> None:
    db = EvictingKeyspace("allkeys-random", seed=1)
    for i in range(200):
        db.set(b"k%d" % i, b"v" * 100)
    guard = MemoryGuard(db, db.used_memory // 2, 0)
    cycles: list[int] = []
    guard.on_cycle = cycles.append
    assert guard.make_room()
    assert guard.make_room()  # under the limit now: no cycle
    assert len(cycles) == 1
    assert cycles[0] >= 0
