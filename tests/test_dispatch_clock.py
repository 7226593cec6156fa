"""The dispatcher's chained clock, with a clock of the test's own: a batch of N requests reads
it N + 1 times, each command that ran is charged exactly the time from the reading before it
to the one at its end (INFO commandstats and the slow log alike), a request refused or queued
is charged nothing, and EXEC's time covers the commands it ran. In both builds (the compiled
one where it is built), and the two agree."""

from __future__ import annotations

from collections import Counter
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled_support import compiled_twin
from kvstore import build
from kvstore.commands import CommandStats, ServerState, Session
from kvstore.commands import dispatch as pure
from kvstore.protocol.replies import OK

compiled, _ = compiled_twin(pure)
if not build.COMPILED:  # the compiled dispatcher runs the compiled build's sessions only
    compiled = None
BUILDS = [pure] if compiled is None else [pure, compiled]


class StepClock:
    """A clock that moves on by the next of ``steps`` (nanoseconds) at each reading."""

    def __init__(self, steps: list[int]) -> None:
        self.steps = steps
        self.now = 1_000_000_000
        self.readings: list[int] = []

    def __call__(self) -> int:
        self.now += self.steps[len(self.readings) % len(self.steps)]
        self.readings.append(self.now)
        return self.now


requests = st.one_of(
    st.tuples(st.sampled_from([b"GET", b"get", b"STRLEN"]), st.sampled_from([b"a", b"b"])),
    st.tuples(st.sampled_from([b"SET", b"APPEND"]), st.sampled_from([b"a", b"b"]), st.just(b"7")),
    st.tuples(st.sampled_from([b"INCR", b"DEL"]), st.sampled_from([b"a", b"b"])),
    st.sampled_from(
        [(b"PING",), (b"NOSUCH", b"x"), (b"GET",), (b"GET", b"a", b"b"), (b"INCR", b"a", b"b")]
    ),
).map(list)
steps = st.lists(st.integers(0, 50_000_000), min_size=1, max_size=8)


def _timed_run(
    module: ModuleType, batches: list[list[list[bytes]]], clock_steps: list[int]
) -> tuple[list[Any], list[Any]]:
    clock = StepClock(clock_steps)
    dispatcher = module.Dispatcher(slowlog_log_slower_than=0, slowlog_max_len=10_000, clock=clock)
    session = Session(ServerState(stats=dispatcher.stats, runner=dispatcher), addr="c:1")
    tallies = dispatcher.stats.tallies
    observed = []
    for batch in batches:
        before = len(clock.readings)
        dispatcher.start_clock()
        for args in batch:
            previous, reads = clock.now, len(clock.readings)
            figures = {name: (t.calls, t.run_ns) for name, t in tallies.items()}
            logged = dispatcher.slowlog.next_id
            dispatcher.execute_next(session, list(args))
            assert len(clock.readings) == reads + 1  # one reading, at the request's end
            ran = [
                (name, t.run_ns - figures.get(name, (0, 0))[1])
                for name, t in tallies.items()
                if t.calls != figures.get(name, (0, 0))[0]
            ]
            if ran:  # charged exactly the interval since the last reading
                assert ran == [(ran[0][0], clock.now - previous)]
                entry = dispatcher.slowlog.entries[0]
                assert dispatcher.slowlog.next_id == logged + 1
                assert entry.duration_us == (clock.now - previous) // 1000
                assert entry.args == list(args)
            else:  # refused: charged nothing, logged nowhere, and the clock read all the same
                assert all(t.run_ns == figures.get(n, (0, 0))[1] for n, t in tallies.items())
                assert dispatcher.slowlog.next_id == logged
            observed.append((ran, clock.now - previous))
        assert len(clock.readings) == before + len(batch) + 1  # N + 1 for N requests
    totals = sorted(
        (name, t.calls, t.run_ns, [(bucket, n) for bucket, n in enumerate(t.histogram) if n])
        for name, t in tallies.items()
        if t.calls
    )
    return observed, totals


@pytest.mark.parametrize("module", BUILDS, ids=lambda module: module.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(requests, max_size=12), max_size=4), clock_steps=steps)
def test_each_command_is_charged_the_time_since_the_reading_before_it(
    module: ModuleType, batches: list[list[list[bytes]]], clock_steps: list[int]
) -> None:
    observed, totals = _timed_run(module, batches, clock_steps)
    charged = sum(interval for ran, interval in observed if ran)
    assert sum(run_ns for _, _, run_ns, _ in totals) == charged
    # Each command's latency histogram counts it in the bucket of its time's bit length.
    expected = Counter(interval.bit_length() for ran, interval in observed if ran)
    counted: Counter[int] = Counter()
    for *_, histogram in totals:
        for bucket, n in histogram:
            counted[bucket] += n
    assert counted == expected


@pytest.mark.skipif(compiled is None, reason="the compiled build is not built, or not in use")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(requests, max_size=12), max_size=4), clock_steps=steps)
def test_both_builds_charge_the_same_times(
    batches: list[list[list[bytes]]], clock_steps: list[int]
) -> None:
    assert compiled is not None
    assert _timed_run(compiled, batches, clock_steps) == _timed_run(pure, batches, clock_steps)


@pytest.mark.parametrize("module", BUILDS, ids=lambda module: module.__name__)
def test_exec_is_charged_the_commands_it_ran(module: ModuleType) -> None:
    clock = StepClock([1000])
    dispatcher = module.Dispatcher(slowlog_log_slower_than=0, clock=clock)
    session = Session(ServerState(stats=dispatcher.stats, runner=dispatcher))
    dispatcher.start_clock()
    for args in ([b"MULTI"], [b"SET", b"a", b"1"], [b"INCR", b"a"]):
        dispatcher.execute_next(session, args)
    started = clock.now
    assert dispatcher.execute_next(session, [b"EXEC"]) == [OK, 2]
    tallies = dispatcher.stats.tallies
    # The queued commands ran timed on their own (two readings each), inside EXEC's time.
    assert (tallies["set"].run_ns, tallies["incr"].run_ns) == (1000, 1000)
    assert tallies["exec"].run_ns == clock.now - started == 5000
    assert tallies["multi"].run_ns == 1000  # MULTI ran; the queued SET and INCR were not charged
    # The slow log shows the commands EXEC ran, not EXEC.
    logged = [entry.args for entry in dispatcher.slowlog.entries]
    assert logged == [[b"INCR", b"a"], [b"SET", b"a", b"1"], [b"MULTI"]]


@pytest.mark.parametrize("module", BUILDS, ids=lambda module: module.__name__)
def test_execute_alone_is_timed_from_its_own_start(module: ModuleType) -> None:
    clock = StepClock([7000, 3000])
    dispatcher = module.Dispatcher(slowlog_log_slower_than=0, clock=clock)
    session = Session(ServerState(stats=dispatcher.stats, runner=dispatcher))
    clock.now += 10**9  # whatever time passed since: not charged
    dispatcher.execute(session, [b"PING"])
    first, last = clock.readings[-2:]
    assert dispatcher.stats.tallies["ping"].run_ns == last - first == 3000


@pytest.mark.parametrize("module", BUILDS, ids=lambda module: module.__name__)
def test_with_the_slow_log_off_the_clock_is_not_read(module: ModuleType) -> None:
    clock = StepClock([1000])
    stats = CommandStats()
    stats.latency_tracking = False  # with the latency monitor off (its default) too
    dispatcher = module.Dispatcher(stats=stats, slowlog_log_slower_than=-1, clock=clock)
    session = Session(ServerState(stats=dispatcher.stats, runner=dispatcher))
    read = len(clock.readings)
    dispatcher.start_clock()
    for _ in range(3):
        dispatcher.execute_next(session, [b"PING"])
    dispatcher.execute(session, [b"NOSUCH"])
    assert len(clock.readings) == read
    assert dispatcher.stats.tallies["ping"].run_ns == 0
    dispatcher.configure_slowlog(0)  # on again: timed from now, not from a reading before
    dispatcher.execute_next(session, [b"PING"])
    assert dispatcher.stats.tallies["ping"].run_ns == 1000
