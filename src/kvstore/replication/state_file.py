"""The note a node leaves at a graceful stop: the history (ID) and offset its data stands at,
and the stream's database there, so after a restart it can continue (PSYNC) instead of copying
everything again. It is deleted as it is read: after a crash the data may stand anywhere, so
an old note must never be believed."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("kvstore.replication")

STATE_NAME = "replication.state"


@dataclass(frozen=True)
class Position:
    replid: str
    offset: int
    db: int


def save(directory: str, position: Position) -> None:
    path = os.path.join(directory, STATE_NAME)
    record = {"replid": position.replid, "offset": position.offset, "db": position.db}
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            json.dump(record, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(path + ".tmp", path)
    except OSError as exc:
        log.warning("cannot note the replication offset: %s", exc.strerror or exc)


def take(directory: str) -> Position | None:
    """The note left in ``directory`` (None without a sound one), deleted."""
    path = os.path.join(directory, STATE_NAME)
    try:
        with open(path, encoding="utf-8") as file:
            record = json.load(file)
        os.remove(path)
        position = Position(str(record["replid"]), int(record["offset"]), int(record["db"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        with contextlib.suppress(OSError):
            os.remove(path)
        return None
    if len(position.replid) != 40 or position.offset < 0 or position.db < 0:
        return None
    return position
