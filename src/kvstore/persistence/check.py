"""``kvstore-check``: verify a log or a snapshot; with ``--fix``, repair it.

A log is cut at its first bad record (a record cut short at the end, or damage anywhere); a
snapshot whose checksum fails is rewritten with the records that still parse. Before dropping
anything the checker says what goes, and the dropped bytes are kept next to the file
(``FILE.dropped``) in case they matter.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from kvstore.persistence import records, snapshot
from kvstore.persistence.disk import Disk

OK, DAMAGED, UNUSABLE = 0, 1, 2


def _preview(data: bytes) -> str:
    shown = data[:60]
    return repr(shown) + ("..." if len(data) > len(shown) else "")


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


def check_snapshot(path: str, data: bytes, fix: bool, disk: Disk) -> int:
    try:
        header = snapshot.verify(data)
        count = sum(1 for _ in snapshot.records(data, header))
    except snapshot.SnapshotDamagedError as damage:
        problem = f"{damage.reason} at offset {damage.offset}"
    else:
        covered = f"appendonly.{header.next_log}.log"
        print(f"{path}: snapshot ok: {count} keys, covers the logs before {covered}")
        return OK
    header, kept, stopped = snapshot.salvage(data)
    print(f"{path}: {problem}")
    lost = header.count - len(kept)
    where = f"; parsing stops at offset {stopped}" if stopped is not None else ""
    print(
        f"{path}: repairing keeps the {len(kept)} of {header.count} records that parse"
        f"{where}, dropping {lost}; a damaged value among those kept cannot be detected"
    )
    if not fix:
        print(f"run again with --fix to repair: kvstore-check --fix {path}")
        return DAMAGED
    with open(path + ".dropped", "wb") as file:
        file.write(data)
    repaired = snapshot.encode(kept, header.next_log, header.created_ms)
    temp = path + ".tmp"
    fd = disk.open_new(temp)
    try:
        disk.write_all(fd, repaired)
        disk.fsync(fd)
    finally:
        disk.close(fd)
    disk.rename(temp, path)
    disk.fsync_dir(os.path.dirname(os.path.abspath(path)))
    print(f"{path}: fixed: {len(kept)} keys kept (the damaged file: {path}.dropped)")
    return OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kvstore-check",
        description="Verify a kvstore append-only log (appendonly.N.log) or snapshot "
        "(snapshot.kvs); with --fix, repair it. Stop the server first.",
    )
    parser.add_argument("file", help="the log or snapshot to check")
    parser.add_argument("--fix", action="store_true", help="repair the file (after reporting)")
    options = parser.parse_args(argv)
    try:
        with open(options.file, "rb") as file:
            data = file.read()
    except OSError as exc:
        print(f"kvstore-check: cannot read {options.file}: {exc.strerror or exc}", file=sys.stderr)
        return UNUSABLE
    disk = Disk()
    try:
        if snapshot.is_snapshot(data):
            return check_snapshot(options.file, data, options.fix, disk)
        return check_log(options.file, data, options.fix, disk)
    except OSError as exc:
        print(
            f"kvstore-check: cannot repair {options.file}: {exc.strerror or exc}", file=sys.stderr
        )
        return UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
