"""Persistence through real servers: restarts, snapshots, damaged files, kvstore-check,
compaction under load, the options and what the server says about them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis

from conftest import ROOT, VARIANTS, ServerProcess, run_server_to_exit, wait_for
from kvstore.persistence import records, snapshot

CHECK = ROOT / "kvstore-check"
Factory = Callable[..., ServerProcess]


def client(server: ServerProcess) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=10)


def kill(server: ServerProcess) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.finish_log()


def run_server(*args: str) -> subprocess.CompletedProcess[str]:
    return run_server_to_exit(*args, timeout=30)


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *args], capture_output=True, text=True, timeout=30, check=False
    )


def the_log(directory: Path) -> Path:
    logs = sorted(directory.glob("appendonly.*.log"))
    assert len(logs) == 1, logs
    return logs[0]


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_writes_survive_sigkill_and_graceful_restart(
    server_factory: Factory, tmp_path: Path, policy: str
) -> None:
    server = server_factory("--dir", str(tmp_path), "--appendfsync", policy)
    r = client(server)
    r.set("plain", "1")
    r.set("gone", "x")
    r.delete("gone")
    r.set("ttl", "v", px=600_000)
    r.set("nx", "first")
    r.set("nx", "second", nx=True)
    kill(server)
    server = server_factory("--dir", str(tmp_path), "--appendfsync", policy)
    r = client(server)
    assert (r.get("plain"), r.get("gone"), r.get("nx")) == (b"1", None, b"first")
    r.set("later", "2")
    assert server.stop() == 0  # graceful: a snapshot is written
    assert (tmp_path / "snapshot.kvs").exists()
    assert the_log(tmp_path).stat().st_size == 0  # the snapshot covers everything
    data = (tmp_path / "snapshot.kvs").read_bytes()
    saved = {key: deadline for _, key, _, deadline in snapshot.records(data, snapshot.verify(data))}
    ttl = saved[b"ttl"]
    assert ttl is not None
    assert 0 < ttl - time.time() * 1000 <= 600_000
    r = client(server_factory("--dir", str(tmp_path)))
    assert (r.get("plain"), r.get("later"), r.dbsize()) == (b"1", b"2", 4)


def test_deadlines_are_absolute(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory("--dir", str(tmp_path))
    r = client(server)
    r.set("short", "v", px=1)
    r.set("long", "v", ex=3600)
    data = the_log(tmp_path).read_bytes()
    assert b"PXAT" in data
    assert b"PX\r\n" not in data
    kill(server)
    r = client(server_factory("--dir", str(tmp_path)))
    assert (r.get("short"), r.get("long")) == (None, b"v")


def test_flushall_and_unchanged_writes_are_logged_as_effects(
    server_factory: Factory, tmp_path: Path
) -> None:
    server = server_factory("--dir", str(tmp_path))
    r = client(server)
    r.set("a", "1")
    r.set("a", "2", nx=True)  # changes nothing: no record
    r.delete("missing")  # changes nothing: no record
    r.flushall()
    r.set("b", "1")
    got = list(records.iter_records(the_log(tmp_path).read_bytes()))
    assert got == [[b"SET", b"a", b"1"], [b"FLUSHALL"], [b"SET", b"b", b"1"]]


def test_no_persist_writes_no_files(server_factory: Factory, tmp_path: Path) -> None:
    target = tmp_path / "unused"
    server = server_factory("--no-persist", "--dir", str(target))
    r = client(server)
    r.set("k", "v")
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert "persistence: off" in "\n".join(server.log)
    with pytest.raises(redis.ResponseError, match="persistence is off"):
        r.bgsave()
    assert server.stop() == 0
    assert not target.exists()


def test_banner_config_and_commands(server_factory: Factory, tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "dir"
    server = server_factory("--dir", str(data_dir), "--appendfsync", "always")
    banner = next(line for line in server.log if "listening on" in line)
    assert f"append-only log and snapshot in {data_dir} (appendfsync always)" in banner
    r = client(server)
    config = r.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert config["dir"] == str(data_dir)
    assert config["save"] == ""
    r.set("k", "v")
    before = r.lastsave()
    assert r.save() is True
    assert r.lastsave() >= before
    assert (data_dir / "snapshot.kvs").exists()
    assert r.bgsave()
    assert r.bgrewriteaof()  # started, or scheduled after the BGSAVE
    wait_for(lambda: len(list(data_dir.glob("appendonly.*.log"))) == 1, 10, "compaction")
    wait_for(lambda: not list(data_dir.glob("snapshot.kvs.tmp*")), 10, "the child to finish")


def test_a_second_server_on_the_same_directory_is_refused(
    server_factory: Factory, tmp_path: Path
) -> None:
    server_factory("--dir", str(tmp_path))
    result = run_server("--dir", str(tmp_path))
    assert result.returncode == 2
    assert "in use by another kvstore server" in result.stderr


# -- damaged files ---------------------------------------------------------------------------


def write_log(directory: Path, *pieces: bytes) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / "appendonly.1.log"
    path.write_bytes(b"".join(pieces))
    return path


FIRST = records.encode_set(b"first", b"1", None)
LAST = records.encode_set(b"last", b"value", None)


@pytest.mark.parametrize("cut", [1, len(LAST) // 2, len(LAST) - 1])
def test_a_torn_tail_is_truncated_with_a_warning(
    server_factory: Factory, tmp_path: Path, cut: int
) -> None:
    path = write_log(tmp_path, FIRST, LAST[:cut])
    server = server_factory("--dir", str(tmp_path))
    warning = next(line for line in server.log if "cut short" in line)
    assert f"offset {len(FIRST)}" in warning
    assert path.stat().st_size == len(FIRST)
    r = client(server)
    assert (r.get("first"), r.get("last")) == (b"1", None)


def test_garbage_in_the_middle_refuses_to_start_and_check_fix_repairs(
    server_factory: Factory, tmp_path: Path
) -> None:
    path = write_log(tmp_path, FIRST, b"garbage!", LAST)
    result = run_server("--dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0]
    assert f"offset {len(FIRST)}" in lines[0]
    assert f"kvstore-check --fix {path}" in lines[0]

    report = run_check(str(path))
    assert report.returncode == 1
    assert f"from offset {len(FIRST)}" in report.stdout
    assert f"{len(b'garbage!') + len(LAST)} bytes" in report.stdout
    assert path.stat().st_size == len(FIRST) + 8 + len(LAST)  # untouched without --fix

    fixed = run_check("--fix", str(path))
    assert fixed.returncode == 0, fixed.stdout
    assert path.read_bytes() == FIRST
    assert Path(str(path) + ".dropped").read_bytes() == b"garbage!" + LAST
    assert run_check(str(path)).returncode == 0
    r = client(server_factory("--dir", str(tmp_path)))
    assert r.get("first") == b"1"


def test_a_bad_snapshot_checksum_refuses_to_start(server_factory: Factory, tmp_path: Path) -> None:
    items = [(0, b"k%d" % i, b"v%d" % i, None) for i in range(10)]
    data = bytearray(snapshot.encode(items, 1, 0))
    data[60] ^= 0xFF
    path = tmp_path / "snapshot.kvs"
    path.write_bytes(bytes(data))
    (tmp_path / "appendonly.1.log").write_bytes(b"")
    result = run_server("--dir", str(tmp_path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "checksum mismatch" in result.stderr
    assert f"kvstore-check --fix {path}" in result.stderr
    assert run_check(str(path)).returncode == 1
    assert run_check("--fix", str(path)).returncode == 0
    r = client(server_factory("--dir", str(tmp_path)))
    assert r.dbsize() >= 8


# -- compaction under load -------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_compaction_under_load_keeps_the_same_table(
    server_factory: Factory, tmp_path: Path, variant: str
) -> None:
    options = (
        *VARIANTS[variant],
        "--auto-aof-rewrite-min-size",
        "20000",
        "--auto-aof-rewrite-percentage",
        "50",
    )
    server = server_factory("--dir", str(tmp_path), *options)
    r = client(server)
    model: dict[bytes, bytes] = {}
    for round_no in range(40):
        pipe = r.pipeline(transaction=False)
        for i in range(100):
            key = b"k%d" % ((round_no * 37 + i * 11) % 700)
            if i % 9 == 0:
                pipe.delete(key)
                model.pop(key, None)
            else:
                value = b"v%d-%d" % (round_no, i)
                pipe.set(key, value)
                model[key] = value
        pipe.execute()
    # Compaction writes its snapshot in the background: wait for it before looking for it.
    wait_for(lambda: sum("snapshot written" in line for line in server.log) >= 2, 10, "compactions")
    assert (tmp_path / "snapshot.kvs").exists()
    assert r.lastsave()
    kill(server)  # no shutdown snapshot: recovery uses the compacted files
    assert not any("Traceback" in line or " ERROR " in line for line in server.log)
    r = client(server_factory("--dir", str(tmp_path), *options))
    assert r.dbsize() == len(model)
    pipe = r.pipeline(transaction=False)
    for key in model:
        pipe.get(key)
    assert dict(zip(model, pipe.execute(), strict=True)) == model
    total = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert total < 200_000  # compacted: 4,000 writes would take far more
    assert not os.path.exists(tmp_path / "appendonly.1.log")


# -- start-up without hiredis ----------------------------------------------------------------


def test_without_hiredis_the_snapshot_is_loaded_once(
    server_factory: Factory, tmp_path: Path
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "hiredis.py").write_text('raise ImportError("hidden by the test")\n')
    data = tmp_path / "data"
    data.mkdir()
    items = [(0, b"k%d" % i, b"v", None) for i in range(100)]
    (data / "snapshot.kvs").write_bytes(snapshot.encode(items, 1, 0))
    (data / "appendonly.1.log").write_bytes(records.encode_set(b"extra", b"1", None))
    path = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
    server = server_factory("--dir", str(data), *VARIANTS["pure"], env={"PYTHONPATH": path})
    assert sum("loaded 100 keys" in line for line in server.log) == 1, server.log
    assert client(server).dbsize() == 101


# -- every refusal names a repair that works -------------------------------------------------

SNAPSHOT_ITEMS = [(0, b"s%d" % i, b"value %d" % i, None) for i in range(10)]
AFTER = records.encode_set(b"after", b"1", None)


def snapshot_then_log(directory: Path, damage: Callable[[bytearray], bytes]) -> None:
    """A snapshot naming log 2 (damaged as told) and log 2 holding one later write."""
    data = bytearray(snapshot.encode(SNAPSHOT_ITEMS, 2, 0))
    (directory / "snapshot.kvs").write_bytes(damage(data))
    (directory / "appendonly.2.log").write_bytes(AFTER)


def snapshot_only(directory: Path) -> None:
    (directory / "snapshot.kvs").write_bytes(snapshot.encode(SNAPSHOT_ITEMS, 2, 0))


def flip(offset: int, bit: int = 0) -> Callable[[bytearray], bytes]:
    def damage(data: bytearray) -> bytes:
        data[offset] ^= 1 << bit
        return bytes(data)

    return damage


def written(directory: Path, logs: dict[int, bytes]) -> None:
    for seq, data in logs.items():
        (directory / f"appendonly.{seq}.log").write_bytes(data)


ALL_SNAPSHOT_KEYS = {key.decode() for _, key, _, _ in SNAPSHOT_ITEMS}
#: name -> (make the damaged directory, keys that must be there after the repair)
REFUSALS: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "snapshot magic": (lambda d: snapshot_then_log(d, flip(0)), ALL_SNAPSHOT_KEYS | {"after"}),
    "snapshot version": (lambda d: snapshot_then_log(d, flip(7)), ALL_SNAPSHOT_KEYS | {"after"}),
    # A next-log number too new would make the server delete log 2 as covered.
    "snapshot next log": (
        lambda d: snapshot_then_log(d, flip(9, 3)),
        ALL_SNAPSHOT_KEYS | {"after"},
    ),
    "snapshot count": (lambda d: snapshot_then_log(d, flip(31)), ALL_SNAPSHOT_KEYS | {"after"}),
    "snapshot value": (lambda d: snapshot_then_log(d, flip(52)), ALL_SNAPSHOT_KEYS | {"after"}),
    "snapshot cut short": (
        lambda d: snapshot_then_log(d, lambda data: bytes(data[:-30])),
        ALL_SNAPSHOT_KEYS - {"s9"} | {"after"},
    ),
    "snapshot empty": (lambda d: snapshot_then_log(d, lambda data: b""), {"after"}),
    "garbage in a log": (
        lambda d: written(d, {1: FIRST + b"garbage!" + LAST}),
        {"first"},
    ),
    "older log cut short": (
        lambda d: written(d, {1: FIRST + LAST[:9], 2: AFTER}),
        {"first", "after"},
    ),
    "log after the snapshot missing": (
        snapshot_only,
        ALL_SNAPSHOT_KEYS,
    ),
    "log between logs missing": (lambda d: written(d, {1: FIRST, 3: AFTER}), {"first", "after"}),
}


def refuse_then_repair(directory: Path) -> str:
    """The server refuses the directory with one line naming a repair, which is then run
    (after kvstore-check without --fix reports the damage); the repaired path."""
    result = run_server("--dir", str(directory))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refusing to start" in lines[0]
    target = lines[0].rsplit("kvstore-check --fix ", 1)[1]
    report = run_check(target)
    assert report.returncode == 1, report.stdout
    assert not report.stdout.rstrip().endswith("ok"), report.stdout
    fixed = run_check("--fix", target)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    return target


def test_an_empty_snapshot_alone_is_repaired_in_two_steps(
    server_factory: Factory, tmp_path: Path
) -> None:
    (tmp_path / "snapshot.kvs").write_bytes(b"")
    assert refuse_then_repair(tmp_path) == str(tmp_path / "snapshot.kvs")
    # The repaired snapshot names log 1, which is not there: the writes after it are lost.
    assert refuse_then_repair(tmp_path) == str(tmp_path)
    assert client(server_factory("--dir", str(tmp_path))).dbsize() == 0


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_every_refusal_names_a_repair_that_works(
    server_factory: Factory, tmp_path: Path, case: str
) -> None:
    make, kept = REFUSALS[case]
    make(tmp_path)
    refuse_then_repair(tmp_path)
    assert run_check(str(tmp_path)).returncode == 0
    r = client(server_factory("--dir", str(tmp_path)))
    assert {key.decode() for key in cast(list[bytes], r.keys("*"))} == kept


def test_a_missing_log_after_save_and_sigkill_is_refused(
    server_factory: Factory, tmp_path: Path
) -> None:
    server = server_factory("--dir", str(tmp_path))
    r = client(server)
    r.set("first", "1")
    assert r.save() is True
    r.set("second", "2")
    kill(server)
    log = the_log(tmp_path)
    log.unlink()
    result = run_server("--dir", str(tmp_path))
    assert result.returncode == 2
    assert str(log) in result.stderr
    assert f"kvstore-check --fix {tmp_path}" in result.stderr
    report = run_check(str(tmp_path))
    assert (report.returncode, f"{log}: missing") == (
        1,
        report.stdout.split("\n")[1][: len(str(log)) + 9],
    )
    fixed = run_check("--fix", str(tmp_path))
    assert fixed.returncode == 0
    assert "accepting that loss" in fixed.stdout
    r = client(server_factory("--dir", str(tmp_path)))
    assert (r.get("first"), r.get("second")) == (b"1", None)


def test_check_tells_files_apart_by_name(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.kvs"
    path.write_bytes(b"")
    report = run_check(str(path))
    assert report.returncode == 1
    assert "log ok" not in report.stdout
    other = tmp_path / "copy.bin"
    other.write_bytes(snapshot.encode(SNAPSHOT_ITEMS, 1, 0))
    result = run_check(str(other))
    assert result.returncode == 2
    assert "cannot tell from its name" in result.stderr


def test_check_fix_refuses_a_directory_in_use(server_factory: Factory, tmp_path: Path) -> None:
    server_factory("--dir", str(tmp_path))
    result = run_check("--fix", str(tmp_path))
    assert result.returncode == 2
    assert "stop it first" in result.stderr


# -- checksums in the log --------------------------------------------------------------------


def batches(data: bytes) -> list[int]:
    """Where each checksum record (each batch) of a log begins."""
    starts, pos = [], 0
    while pos < len(data):
        assert data.startswith(records.FRAME_START, pos)
        starts.append(pos)
        length = int(data[pos + len(records.FRAME_START) + 5 : pos + records.FRAME_SIZE - 16])
        pos += records.FRAME_SIZE + length
    return starts


def three_writes_then_sigkill(server_factory: Factory, directory: Path) -> bytes:
    server = server_factory("--dir", str(directory))
    r = client(server)
    for key in ("one", "two", "three"):  # one batch each: each waits for its reply
        r.set(key, f"value of {key}")
    kill(server)
    return the_log(directory).read_bytes()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_flipped_byte_inside_a_value_is_found_and_repaired(
    server_factory: Factory, tmp_path: Path, variant: str
) -> None:
    data = three_writes_then_sigkill(server_factory, tmp_path)
    starts = batches(data)
    assert len(starts) == 3
    size = starts[2] - starts[1] - records.FRAME_SIZE
    damaged = bytearray(data)
    where = data.index(b"value of two")
    damaged[where + 3] ^= 0x01  # "valte of two": a well-formed record, a wrong value
    path = the_log(tmp_path)
    path.write_bytes(bytes(damaged))

    result = run_server("--dir", str(tmp_path), *VARIANTS[variant])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    problem = f"checksum mismatch in the batch of {size} bytes at offset {starts[1]}"
    assert problem in lines[0]
    assert lines[0].endswith(f"kvstore-check --fix {path}")
    report = run_check(str(path))
    assert report.returncode == 1
    assert f"{problem}; 1 records before it are intact" in report.stdout
    assert run_check("--fix", str(path)).returncode == 0
    assert path.read_bytes() == data[: starts[1]]
    r = client(server_factory("--dir", str(tmp_path), *VARIANTS[variant]))
    assert (r.get("one"), r.get("two"), r.get("three")) == (b"value of one", None, None)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_torn_last_batch_is_truncated_with_a_warning(
    server_factory: Factory, tmp_path: Path, variant: str
) -> None:
    data = three_writes_then_sigkill(server_factory, tmp_path)
    last = batches(data)[-1]
    for cut in (last + 5, last + records.FRAME_SIZE + 3, len(data) - 1):
        the_log(tmp_path).write_bytes(data[:cut])
        server = server_factory("--dir", str(tmp_path), *VARIANTS[variant])
        warning = next(line for line in server.log if "cut short" in line)
        assert f"offset {last}" in warning
        assert (client(server).get("two"), client(server).get("three")) == (b"value of two", None)
        kill(server)
        assert the_log(tmp_path).read_bytes() == data[:last]


def test_a_log_from_before_checksums_loads_and_grows_with_them(
    server_factory: Factory, tmp_path: Path
) -> None:
    path = write_log(tmp_path, FIRST, LAST)
    server = server_factory("--dir", str(tmp_path))
    r = client(server)
    assert (r.get("first"), r.get("last")) == (b"1", b"value")
    r.set("new", "checked")
    kill(server)
    data = path.read_bytes()
    assert data.startswith(FIRST + LAST + records.FRAME_START)
    assert run_check(str(path)).returncode == 0
    for variant in sorted(VARIANTS):
        server = server_factory("--dir", str(tmp_path), *VARIANTS[variant])
        assert (client(server).get("first"), client(server).get("new")) == (b"1", b"checked")
        kill(server)
