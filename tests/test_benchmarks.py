"""The benchmark harness (``benchmarks/``): its CSV parsing, statistics and report pieces, and a
smoke run of the whole command against real servers. Nothing here asserts a speed."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import figures, report, servers, targets, wire
from benchmarks.redis_benchmark import BenchmarkError, Workload, parse_csv
from benchmarks.servers import (
    Capabilities,
    Pairing,
    ServerSet,
    free_port,
    pairings,
    redis_tools_available,
)
from benchmarks.stats import Comparison, Spread, paired_ratios, quartiles

from conftest import ROOT, wait_for

HEADER = (
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
    '"p99_latency_ms","max_latency_ms"'
)
CSV_70 = f"""{HEADER}
"SET","89686.09","0.410","0.016","0.223","0.711","4.719","12.719"
"GET","104712.04","0.344","0.056","0.199","0.319","5.423","9.439"
"""


# -- redis-benchmark CSV ----------------------------------------------------------------------


def test_parse_csv_reads_every_test_row() -> None:
    results = parse_csv(CSV_70)
    assert sorted(results) == ["GET", "SET"]
    assert results["SET"].rps == pytest.approx(89686.09)
    assert results["SET"].p50_ms == pytest.approx(0.223)
    assert results["SET"].p99_ms == pytest.approx(4.719)
    assert results["GET"].avg_ms == pytest.approx(0.344)
    assert results["GET"].max_ms == pytest.approx(9.439)


def test_parse_csv_skips_lines_that_are_not_rows() -> None:
    noisy = "WARNING: could not fetch server CONFIG\n" + CSV_70 + "\n"
    assert parse_csv(noisy)["GET"].rps == pytest.approx(104712.04)


def test_parse_csv_names_tests_in_upper_case() -> None:
    assert "LPUSH" in parse_csv(f'{HEADER}\n"lpush","1.0","1","1","1","1","1","1"\n')


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Error: Connection refused\n",
        '"test","rps"\n"SET","1.0"\n',  # an older redis-benchmark: no latency columns
        f'{HEADER}\n"SET","fast","1","1","1","1","1","1"\n',
        f'{HEADER}\n"SET","1.0","1"\n',
        # a run shorter than redis-benchmark's 1 ms clock, and one of no requests
        f'{HEADER}\n"GET","inf","0.185","0.064","0.183","0.303","0.303","0.303"\n',
        f'{HEADER}\n"SET","-nan","1","1","1","1","1","1"\n',
    ],
    ids=["empty", "error", "old-columns", "non-numeric", "short-row", "no-duration", "nan"],
)
def test_parse_csv_refuses_unusable_output(text: str) -> None:
    with pytest.raises(BenchmarkError):
        parse_csv(text)


def test_workload_passes_every_option_to_redis_benchmark() -> None:
    argv = Workload(("SET", "GET"), 1000, 7, 16, 1024, 500).argv(6400)
    assert argv[0] == "redis-benchmark"
    options = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))
    assert options == {
        "-h": "127.0.0.1",
        "-p": "6400",
        "-t": "set,get",
        "-n": "1000",
        "-c": "7",
        "-P": "16",
        "-d": "1024",
        "-r": "500",
    }
    assert argv[-1] == "--csv"


# -- statistics -------------------------------------------------------------------------------


def test_spread_of_odd_and_even_counts() -> None:
    odd = Spread.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (odd.median, odd.low, odd.high, odd.q1, odd.q3) == (3.0, 1.0, 5.0, 2.0, 4.0)
    even = Spread.of([4.0, 1.0, 3.0, 2.0])
    assert even.median == 2.5
    assert (even.low, even.high) == (1.0, 4.0)
    assert even.q1 < even.median < even.q3


def test_spread_of_one_value_is_that_value() -> None:
    one = Spread.of([7.0])
    assert (one.median, one.low, one.high, one.q1, one.q3) == (7.0,) * 5
    assert quartiles([7.0]) == (7.0, 7.0)


def test_spread_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        Spread.of([])


def test_paired_ratios_pair_rounds_and_skip_zero_denominators() -> None:
    assert paired_ratios([2.0, 3.0, 5.0], [4.0, 0.0, 5.0]) == [0.5, 1.0]
    with pytest.raises(ValueError, match="same length"):
        paired_ratios([1.0], [1.0, 2.0])


def test_comparison_ratio_is_the_median_of_per_round_ratios() -> None:
    # Per round: 0.5, 1.0, 0.8 -> median 0.8, although the ratio of medians is 1.0.
    comparison = Comparison(redis=[100.0, 50.0, 125.0], kvstore=[50.0, 50.0, 100.0])
    ratio = comparison.ratio()
    assert ratio is not None
    assert (ratio.median, ratio.low, ratio.high) == (0.8, 0.5, 1.0)
    shown = comparison.as_dict()
    assert shown["redis"]["median"] == 100.0
    assert shown["kvstore"]["rounds"] == [50.0, 50.0, 100.0]
    assert shown["ratio"]["median"] == 0.8


def test_comparison_without_usable_rounds_has_no_ratio() -> None:
    assert Comparison(redis=[0.0], kvstore=[1.0]).ratio() is None
    assert Comparison(redis=[0.0], kvstore=[1.0]).as_dict()["ratio"] is None


# -- targets, figures, pairings, README ---------------------------------------------------------


def test_targets_compare_in_their_direction() -> None:
    at_least = targets.throughput_target("c50", "rps")
    at_most = targets.throughput_target("c50", "p99_ms")
    assert at_least is not None
    assert at_most is not None
    assert at_least.passes(1.0)
    assert not at_least.passes(0.99)
    assert at_most.passes(1.2)
    assert not at_most.passes(1.21)
    assert targets.verdict(at_least, 0.5) == {"target": ">= 1x", "passed": False}
    cpu = targets.throughput_target("p16", "cpu")
    assert cpu is not None
    assert cpu.passes(1.0)
    assert not cpu.passes(1.01)
    assert targets.verdict(at_least, 0.99, comparable=False)["passed"] is None
    assert targets.verdict(None, 1.0) == {"target": None, "passed": None}
    connection = targets.memory_target("mem-conn")
    assert connection is not None
    assert connection.describe() == "<= 10 KiB"
    assert connection.passes(10 * 1024)
    assert not connection.passes(10 * 1024 + 1)


def test_only_patterns_select_figures_and_modes_size_them() -> None:
    default, smoke = figures.MODES["default"], figures.MODES["smoke"]
    chosen = figures.figures_for(default, ["c1*", "v1m"])
    assert [f.name for f in chosen] == ["c1", "c10", "c1000", "v1m"]
    assert [f.name for f in figures.figures_for(smoke, ["c50"])] == ["c50"]
    assert figures.figures_for(smoke, ["c50"])[0].requests == 10_000
    large = figures.figures_for(figures.MODES["quick"], ["keys"])[0]
    assert large.prefill
    assert large.keyspace == 100_000
    assert large.label == "100,000 keys"
    assert figures.memory_figures_for(default, ["mem-*"]) == ["mem-key", "mem-conn"]
    assert figures.memory_figures_for(smoke, ["*"]) == []


def test_capabilities_come_from_the_help_text() -> None:
    before = Capabilities.from_help("usage: kvstore-server [--port N] [--bind ADDRESS]")
    after = Capabilities.from_help(
        "--dir DIR ... --appendfsync {always,everysec,no} ... --no-persist ... --maxclients N"
    )
    assert before == Capabilities(persistence=False, no_persist=False, maxclients=False)
    assert after == Capabilities(persistence=True, no_persist=True, maxclients=True)
    aof_before, memory_before = pairings(before)
    assert not aof_before.comparable
    assert aof_before.note == "kvstore persistence not available"
    assert aof_before.kvstore_args == ()
    assert memory_before.comparable
    aof_after, memory_after = pairings(after)
    assert aof_after.comparable
    assert aof_after.kvstore_args == ("--dir", "{dir}", "--appendfsync", "everysec")
    assert memory_after.kvstore_args == ("--no-persist",)


def test_update_readme_replaces_only_between_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START_MARKER}\nold table\n{report.END_MARKER}\noutro\n")
    report.update_readme(readme, "new table\n")
    assert readme.read_text() == (
        f"intro\n{report.START_MARKER}\nnew table\n{report.END_MARKER}\noutro\n"
    )
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(readme, "x")


# -- the whole command ------------------------------------------------------------------------


needs_redis_tools = pytest.mark.skipif(
    not redis_tools_available(),
    reason="redis-server and redis-benchmark are not installed (scripts/test installs them)",
)


def _harness(*args: str, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.compare", "--smoke", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )


@needs_redis_tools
def test_smoke_run_writes_results_with_ratios(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.START_MARKER}\n{report.END_MARKER}\n")
    output = tmp_path / "out"
    harness = _harness(
        "--output", str(output), "--update-readme", "--readme", str(readme), tmp_path=tmp_path
    )
    stdout, stderr = harness.communicate(timeout=120)
    assert harness.returncode == 0, stderr
    results = json.loads((output / "smoke.json").read_text())
    assert results["mode"] == "smoke"
    assert results["rounds"] == 1
    assert results["memory"] == {}
    assert {"cores", "cpu"} <= set(results["machine"])
    assert {"python", "kvstore", "redis-server", "uvloop", "hiredis"} <= set(results["versions"])
    assert [p["name"] for p in results["pairings"]] == ["aof", "memory"]
    persistence = results["kvstore_capabilities"]["persistence"]
    aof = results["pairings"][0]
    assert aof["comparable"] == persistence
    assert (aof["note"] == "kvstore persistence not available") != persistence
    for pairing in results["pairings"]:
        [figure] = pairing["figures"]
        assert figure["name"] == "c50"
        assert figure["error"] is None
        assert figure["params"]["requests"] == 10_000
        for test in ("SET", "GET"):
            metrics = figure["tests"][test]
            assert set(metrics) == {"rps", "mbps", "p50_ms", "p99_ms"}
            rps = metrics["rps"]
            assert len(rps["redis"]["rounds"]) == len(rps["kvstore"]["rounds"]) == 1
            assert rps["redis"]["median"] > 0
            expected = rps["kvstore"]["rounds"][0] / rps["redis"]["rounds"][0]
            assert rps["ratio"]["median"] == pytest.approx(expected, rel=1e-3)
            assert rps["target"] == ">= 1x"
            if pairing["comparable"]:
                assert rps["passed"] is (rps["ratio"]["median"] >= 1.0)
            else:
                assert rps["passed"] is None
    judged = [t for t in results["targets"] if t["figure"] == "c50"]
    # ops/s and p99 for SET and GET, and the server's CPU per request, in two pairings
    assert len(judged) == 10
    chart_written = (output / "smoke.png").exists()
    assert chart_written == (results["chart"] == "smoke.png")
    assert chart_written or any("matplotlib" in note for note in results["notes"])
    assert "| 50 clients, unpipelined | SET |" in stdout
    section = readme.read_text()
    assert "| 50 clients, unpipelined | GET |" in section
    assert section.index(report.START_MARKER) < section.index("- **When**")
    assert section.index("- **When**") < section.index(report.END_MARKER)
    assert list(tmp_path.glob("kvstore-bench-*")) == []
    # Publishing the saved results again, without measuring, gives the same section.
    again = tmp_path / "AGAIN.md"
    again.write_text(f"# x\n{report.START_MARKER}\n{report.END_MARKER}\n")
    republish = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.compare"),
            *("--from-json", str(output / "smoke.json"), "--update-readme", "--readme", str(again)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert republish.returncode == 0, republish.stderr
    assert again.read_text() == section


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


@needs_redis_tools
def test_interrupt_stops_the_servers_and_removes_their_directories(tmp_path: Path) -> None:
    harness = _harness("--output", str(tmp_path / "out"), "--rounds", "1000", tmp_path=tmp_path)
    assert harness.stderr is not None
    for line in harness.stderr:  # the first round has run: both servers are up
        if "round 1/" in line:
            break
    servers = [pid for pid in _children(harness.pid) if "server" in _cmdline(pid)]
    assert len(servers) == 2
    assert len(list(tmp_path.glob("kvstore-bench-*"))) == 2
    harness.send_signal(signal.SIGINT)
    harness.communicate(timeout=60)
    assert harness.returncode == 130
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in servers), 10, "exit")
    assert list(tmp_path.glob("kvstore-bench-*")) == []
    assert not (tmp_path / "out").exists()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@needs_redis_tools
def test_ceiling_smoke_run_compares_three_servers(tmp_path: Path) -> None:
    output = tmp_path / "ceiling.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.ceiling", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(output.read_text())
    assert results["mode"] == "smoke"
    assert set(results["figures"]) == {"c50", "p16"}
    for figure in results["figures"].values():
        for test in ("SET", "GET"):
            entry = figure[test]
            for kind in ("redis", "bare", "kvstore"):
                assert math.isfinite(entry[kind]["median"])
                assert entry[kind]["median"] > 0
            expected = entry["kvstore"]["median"] / entry["bare"]["median"]
            assert entry["kvstore/bare"]["median"] == pytest.approx(expected, rel=1e-3)
    assert "| 50 clients, pipeline 16 | GET |" in result.stdout
    assert list(tmp_path.glob("kvstore-bench-*")) == []


def _memory_pairing() -> Pairing:
    return {p.name: p for p in pairings(Capabilities(True, True, True))}["memory"]


def test_bare_server_answers_get_and_set() -> None:
    """The ceiling's reference server does what redis-benchmark asks of it, and no more."""
    server_set = ServerSet(Capabilities(True, True, True), maxclients=100)
    try:
        server = server_set.start("bare", _memory_pairing())
        with wire.connect(server.port) as sock:
            assert wire.call(sock, "SET", "k", "v") == b"OK"
            assert wire.call(sock, "GET", "k") == b"v"
            assert wire.call(sock, "GET", "missing") is None
            with pytest.raises(wire.ServerReplyError):
                wire.call(sock, "INCR", "k")
        assert server.stop() == 0
    finally:
        server_set.close()


def test_a_server_whose_port_was_taken_starts_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as holder:  # the port another process took after free_port chose it
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        picks = [taken]
        monkeypatch.setattr(servers, "free_port", lambda: picks.pop() if picks else free_port())
        server_set = ServerSet(Capabilities(True, True, True), maxclients=100)
        try:
            server = server_set.start("kvstore", _memory_pairing())
            assert server.port != taken
            with wire.connect(server.port) as sock:
                assert wire.call(sock, "PING") == b"PONG"
            assert len(server_set.servers) == 1
        finally:
            server_set.close()


def test_instructions_per_request_cancel_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """One repeat and three differ by two repeats' requests; start-up and set-up cancel out."""
    from benchmarks import instructions
    from benchmarks.micro import CASES

    requests = CASES["p16-get"][1]
    counts = {1: 5_000_000 + 14_000 * requests, 3: 5_000_000 + 3 * 14_000 * requests}
    monkeypatch.setattr(instructions, "collected", lambda case, repeat, options: counts[repeat])
    assert instructions.per_request("p16-get", []) == 14_000


def test_children_start_with_the_usual_signal_mask_and_the_parent_keeps_its_own() -> None:
    from benchmarks import children

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    code = (
        "import signal; print(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))"
    )
    returncode, stdout, _ = children.run([sys.executable, "-c", code], timeout=60)
    assert returncode == 0
    blocked_in_child = json.loads(stdout)
    assert int(signal.SIGINT) not in blocked_in_child
    assert int(signal.SIGTERM) not in blocked_in_child
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_a_child_that_outlives_its_time_out_is_killed(tmp_path: Path) -> None:
    from benchmarks import children

    marker = tmp_path / "pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(subprocess.TimeoutExpired):
        children.run([sys.executable, "-c", code], timeout=2)
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists()


def test_a_stop_signal_waits_for_the_held_block_then_raises() -> None:
    from benchmarks import children

    stored: list[str] = []

    def launch() -> None:
        with children.stop_signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            stored.append("the child's Popen")  # what launch() stores before it may raise

    with pytest.raises(KeyboardInterrupt):
        launch()
    assert stored == ["the child's Popen"]
