"""Start-up: load the snapshot, then replay the logs it does not cover.

A newest log whose last record is cut short (a write interrupted by a crash) is truncated to
its last complete record, with a warning. Any other damage stops the start-up with a
:class:`RecoveryError` naming the file, the offset and the repair command.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from kvstore.build import hiredis_available
from kvstore.keyspace import Databases, Keyspace, as_databases
from kvstore.persistence import records, snapshot
from kvstore.persistence.disk import Disk
from kvstore.persistence.log import list_logs, log_name

log = logging.getLogger("kvstore.persistence")

SNAPSHOT_NAME = "snapshot.kvs"
TEMP_SUFFIX = ".tmp"


class RecoveryError(Exception):
    """The data directory cannot be loaded safely; the message is one line for the user."""


def refuse(path: str, offset: int, reason: str) -> RecoveryError:
    return RecoveryError(
        f"{path}: {reason} at offset {offset}; refusing to start on damaged data. "
        f"Inspect and repair it with: kvstore-check --fix {path}"
    )


@dataclass
class Recovered:
    #: The log to append to.
    seq: int
    snapshot_size: int
    #: Sizes of the logs before ``seq`` still needed (not covered by the snapshot).
    older_logs_size: int
    snapshot_time_ms: int | None
    records: int
    #: The database the last log's last record was for: the log goes on from there.
    last_db: int = 0


def recover(disk: Disk, directory: str, db: Databases | Keyspace, fast: bool = True) -> Recovered:
    """Load the directory into ``db`` (empty). ``fast``: try hiredis on the logs first."""
    try:
        return _recover(disk, directory, as_databases(db), fast)
    except records.DatabaseOutOfRangeError as exc:
        raise RecoveryError(f"{directory}: {exc}") from None


def _recover(disk: Disk, directory: str, db: Databases, fast: bool) -> Recovered:
    # Decided once, before the snapshot is loaded: a fast replay that cannot run at all must
    # not send the whole load round again.
    fast = fast and hiredis_available()
    snapshot_path = os.path.join(directory, SNAPSHOT_NAME)
    for name in os.listdir(directory):
        if name.startswith(SNAPSHOT_NAME + TEMP_SUFFIX):
            disk.remove(os.path.join(directory, name))  # an interrupted snapshot
    base: int | None = None
    snapshot_size = 0
    snapshot_time: int | None = None
    logs = list_logs(directory)
    if os.path.exists(snapshot_path):
        with open(snapshot_path, "rb") as file:
            data = file.read()
        try:
            header = snapshot.verify(data)
            if not any(seq >= header.next_log for seq, _ in logs):
                # The snapshot's log is created before the snapshot is: it cannot be missing
                # unless it was lost, and with it every write acknowledged after the snapshot.
                missing = os.path.join(directory, log_name(header.next_log))
                raise RecoveryError(
                    f"{missing} is missing: it holds the writes after {snapshot_path}; refusing "
                    "to start without them. To start anyway, accepting their loss: "
                    f"kvstore-check --fix {directory}"
                )
            snapshot.load(data, db, header)
        except snapshot.SnapshotDamagedError as damage:
            raise refuse(snapshot_path, damage.offset, damage.reason) from None
        base, snapshot_size, snapshot_time = header.next_log, len(data), header.created_ms
        log.info("loaded %d keys from %s", db.key_count, snapshot_path)
    if base is None:
        base = logs[0][0] if logs else 1
    for seq, path in logs:
        if seq < base:
            log.info("removing %s: the snapshot covers it", path)
            disk.remove(path)
    active = [(seq, path) for seq, path in logs if seq >= base]
    last_db = 0
    total = 0
    sizes = []
    for index, (seq, path) in enumerate(active):
        expected = base + index
        if seq != expected:
            missing = os.path.join(directory, log_name(expected))
            raise RecoveryError(
                f"{missing} is missing (found {path}); refusing to start without the writes "
                f"it held. To start anyway, accepting their loss: kvstore-check --fix {directory}"
            )
        with open(path, "rb") as file:
            data = file.read()
        try:
            result = records.replay(data, db) if fast else None
        except records.StartOverError:  # something odd: start again, carefully throughout
            db.clear()
            return _recover(disk, directory, db, fast=False)
        if result is None:  # not applied: the careful scanner says what is wrong, if anything
            result = records.scan(data, db)
        if result.damage is not None:
            raise refuse(path, result.damage.offset, result.damage.reason)
        if result.truncated:
            if index != len(active) - 1:
                raise refuse(path, result.good_end, "last record cut short in an older log")
            log.warning(
                "%s: the last record is cut short at offset %d (an interrupted write): "
                "truncating the log there, dropping %d bytes",
                path,
                result.good_end,
                result.size - result.good_end,
            )
            disk.truncate(path, result.good_end)
        total += result.records
        sizes.append(result.good_end)
        last_db = result.last_db
    if active:
        log.info("replayed %d records from %d log(s)", total, len(active))
    return Recovered(
        seq=active[-1][0] if active else base,
        snapshot_size=snapshot_size,
        older_logs_size=sum(sizes[:-1]),
        snapshot_time_ms=snapshot_time,
        records=total,
        last_db=last_db,
    )
