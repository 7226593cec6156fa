"""SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE: the persistence the server installed does the work."""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.info import info_section
from kvstore.commands.ports import PersistenceControl
from kvstore.commands.table import SYNTAX_ERROR, Args, command
from kvstore.protocol.replies import Reply, ReplyError


def _persistence(session: Session) -> PersistenceControl:
    persistence = session.server.persistence
    if persistence is None:
        raise ReplyError("ERR persistence is off (the server runs with --no-persist)")
    return persistence


@command(
    "save",
    1,
    "admin noscript no_async_loading no_multi",
    group="server",
    summary="Write a snapshot now.",
)
def save(session: Session, args: Args) -> Reply:
    return _persistence(session).save()


@command(
    "bgsave",
    -1,
    "admin noscript no_async_loading",
    group="server",
    summary="Write a snapshot in the background.",
)
def bgsave(session: Session, args: Args) -> Reply:
    if len(args) > 2 or (len(args) == 2 and args[1].lower() != b"schedule"):
        raise ReplyError(SYNTAX_ERROR)
    return _persistence(session).bgsave(schedule=len(args) == 2)


@command(
    "bgrewriteaof",
    1,
    "admin noscript no_async_loading",
    group="server",
    summary="Compact the append-only log in the background.",
)
def bgrewriteaof(session: Session, args: Args) -> Reply:
    return _persistence(session).bgrewriteaof()


@command(
    "lastsave",
    1,
    "loading stale fast",
    group="server",
    summary="The Unix time of the last good snapshot.",
    tips="nondeterministic_output",
    acl="admin dangerous",
)
def lastsave(session: Session, args: Args) -> Reply:
    persistence = session.server.persistence
    return persistence.lastsave() if persistence is not None else session.server.started_ms // 1000


@info_section("persistence")
def persistence_info(session: Session) -> dict[str, str | int]:
    persistence = session.server.persistence
    if persistence is not None:
        return persistence.info()
    return info_when_off(session.server.dbs.dirty)


def info_when_off(changes: int = 0) -> dict[str, str | int]:
    """``INFO persistence`` for a server running with ``--no-persist`` (with it on, the
    fields come from ``session.server.persistence.info()``): ``changes`` are the writes since
    the server started, as a Redis that never saves counts them."""
    return {
        "loading": 0,
        "rdb_changes_since_last_save": changes,
        "rdb_bgsave_in_progress": 0,
        "rdb_last_save_time": 0,
        "rdb_last_bgsave_status": "ok",
        "aof_enabled": 0,
        "aof_rewrite_in_progress": 0,
        "aof_last_write_status": "ok",
    }
