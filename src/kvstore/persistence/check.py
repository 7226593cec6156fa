"""``kvstore-check``: verify a data directory, a log or a snapshot; with ``--fix``, repair it.

What a file is comes from its name (``snapshot.kvs``, ``appendonly.N.log``), never from its
content: a damaged snapshot must not be "repaired" as a log. A log is cut at its first bad
record; a snapshot is rewritten with the records that still parse; a missing log is created
empty. Before dropping anything the checker says what goes, and dropped bytes are kept next to
the file (``FILE.dropped``) in case they matter.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from collections.abc import Sequence

from kvstore.persistence import records, snapshot
from kvstore.persistence.disk import Disk
from kvstore.persistence.log import LOG_NAME, list_logs, log_name
from kvstore.persistence.recovery import SNAPSHOT_NAME

OK, DAMAGED, UNUSABLE = 0, 1, 2


class UnusableError(Exception):
    """The check cannot go on; the message is one line for the user."""


def _preview(data: bytes) -> str:
    shown = data[:60]
    return repr(shown) + ("..." if len(data) > len(shown) else "")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise UnusableError(f"cannot read {path}: {exc.strerror or exc}") from None


def _replace(disk: Disk, path: str, data: bytes) -> None:
    """Write ``data`` as ``path`` atomically and durably."""
    temp = path + ".tmp"
    fd = disk.open_new(temp)
    try:
        disk.write_all(fd, data)
        disk.fsync(fd)
    finally:
        disk.close(fd)
    disk.rename(temp, path)
    disk.fsync_dir(os.path.dirname(os.path.abspath(path)))


def check_log(path: str, data: bytes, fix: bool, disk: Disk) -> int:
    result = records.scan(data)
    if result.intact:
        print(f"{path}: log ok: {result.records} records, {result.size} bytes")
        return OK
    dropped = data[result.good_end :]
    if result.truncated:
        problem = f"the last record is cut short at offset {result.good_end}"
    else:
        assert result.damage is not None
        problem = f"{result.damage.reason} at offset {result.damage.offset}"
    print(f"{path}: {problem}; {result.records} records before it are intact")
    print(
        f"{path}: repairing drops everything from offset {result.good_end}: "
        f"{len(dropped)} bytes, starting {_preview(dropped)}"
    )
    if not fix:
        print(f"run again with --fix to repair: kvstore-check --fix {path}")
        return DAMAGED
    with open(path + ".dropped", "wb") as file:
        file.write(dropped)
    disk.truncate(path, result.good_end)
    print(f"{path}: fixed: truncated to {result.good_end} bytes (dropped bytes: {path}.dropped)")
    return OK


def _next_log(path: str, claimed: int | None) -> tuple[int, str]:
    """The log a repaired snapshot should name, and why. A damaged header's number cannot be
    trusted: naming a log too new would make the server delete logs as covered, while naming
    an older one only replays writes the snapshot already holds (each record states a key's
    whole value), so the oldest log present is the safe choice."""
    seqs = [seq for seq, _ in list_logs(os.path.dirname(os.path.abspath(path)))]
    if claimed is not None and (not seqs or claimed in seqs):
        return claimed, "as its header says"
    if seqs:
        return seqs[0], f"the oldest log present (the header said {claimed})"
    return 1, "no log is present and the header is unreadable"


def check_snapshot(path: str, data: bytes, fix: bool, disk: Disk) -> int:
    try:
        header = snapshot.verify(data)
        count = sum(1 for _ in snapshot.records(data, header))
    except snapshot.SnapshotDamagedError as damage:
        problem = f"{damage.reason} at offset {damage.offset}"
    else:
        covered = log_name(header.next_log)
        print(f"{path}: snapshot ok: {count} keys, covers the logs before {covered}")
        return OK
    found = snapshot.salvage(data)
    print(f"{path}: {problem}")
    claimed = found.header.next_log if found.header is not None else None
    next_log, why = _next_log(path, claimed)
    if found.stopped is not None:
        lost = f"the {len(data) - found.stopped} bytes from offset {found.stopped} do not parse"
    else:
        lost = "every record parses"
    promised = f" of the {found.header.count} its header counts" if found.header else ""
    print(
        f"{path}: repairing keeps the {len(found.items)} records{promised} that parse ({lost}) "
        f"and names {log_name(next_log)} as the next log ({why}); a damaged value among "
        "those kept cannot be detected"
    )
    if not fix:
        print(f"run again with --fix to repair: kvstore-check --fix {path}")
        return DAMAGED
    with open(path + ".dropped", "wb") as file:
        file.write(data)
    created = found.header.created_ms if found.header is not None else 0
    _replace(disk, path, snapshot.encode(found.items, next_log, created))
    print(f"{path}: fixed: {len(found.items)} keys kept (the damaged file: {path}.dropped)")
    return OK


def check_directory(directory: str, fix: bool, disk: Disk) -> int:
    """Every file the server would read, and the logs it would miss."""
    worst = OK
    snapshot_path = os.path.join(directory, SNAPSHOT_NAME)
    base: int | None = None
    if os.path.exists(snapshot_path):
        worst = max(worst, check_snapshot(snapshot_path, _read(snapshot_path), fix, disk))
        data = _read(snapshot_path)
        try:
            base = snapshot.verify(data).next_log
        except snapshot.SnapshotDamagedError:  # reported above, not repaired
            base = None
    logs = list_logs(directory)
    if base is None and logs:
        base = logs[0][0]
    seqs = {seq for seq, _ in logs}
    missing: list[int] = []
    if base is not None:
        newest = max((seq for seq in seqs if seq >= base), default=base)
        missing = [seq for seq in range(base, newest + 1) if seq not in seqs]
    for seq in missing:
        path = os.path.join(directory, log_name(seq))
        print(f"{path}: missing: the writes it held are lost")
        if fix:
            fd = disk.open_new(path)
            disk.close(fd)
            disk.fsync_dir(directory)
            print(f"{path}: fixed: created empty, accepting that loss")
        else:
            print(f"run again with --fix to start without them: kvstore-check --fix {directory}")
            worst = max(worst, DAMAGED)
    for seq, path in logs:
        if base is not None and seq < base:
            print(f"{path}: covered by the snapshot (the server removes it at start)")
        else:
            worst = max(worst, check_log(path, _read(path), fix, disk))
    if not os.path.exists(snapshot_path) and not logs:
        print(f"{directory}: no snapshot and no log: an empty data directory")
    return worst


def _refuse_if_in_use(directory: str) -> None:
    """A repair under a running server would be undone or worse: refuse it."""
    path = os.path.join(directory, "LOCK")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no server has used this directory
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UnusableError(
            f"{directory} is in use by a running kvstore server: stop it first"
        ) from None
    finally:
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kvstore-check",
        description="Verify a kvstore data directory, append-only log (appendonly.N.log) or "
        "snapshot (snapshot.kvs); with --fix, repair it. Stop the server first.",
    )
    parser.add_argument("path", help="the data directory, or one log or snapshot in it")
    parser.add_argument("--fix", action="store_true", help="repair it (after reporting)")
    options = parser.parse_args(argv)
    path: str = options.path
    disk = Disk()
    name = os.path.basename(os.path.normpath(path))
    try:
        if os.path.isdir(path):
            if options.fix:
                _refuse_if_in_use(path)
            return check_directory(path, options.fix, disk)
        if name.endswith(".kvs"):
            check = check_snapshot
        elif LOG_NAME.match(name) or name.endswith(".log"):
            check = check_log
        else:
            raise UnusableError(
                f"cannot tell from its name whether {path} is a snapshot ({SNAPSHOT_NAME}) "
                f"or a log ({log_name(1)}, ...)"
            )
        data = _read(path)
        if options.fix:
            _refuse_if_in_use(os.path.dirname(os.path.abspath(path)))
        return check(path, data, options.fix, disk)
    except UnusableError as exc:
        print(f"kvstore-check: {exc}", file=sys.stderr)
        return UNUSABLE
    except OSError as exc:
        print(f"kvstore-check: cannot repair {path}: {exc.strerror or exc}", file=sys.stderr)
        return UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
