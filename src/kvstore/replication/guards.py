"""What clients may do on a replica or a primary short of replicas, as Redis decides it: the
command table with writes and stale reads checked first (the primary's stream is never
refused: its session is let through by the checks the node gives)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kvstore.commands import Command, Session
from kvstore.commands.table import SUBCOMMAND_TABLES, Handler
from kvstore.protocol.replies import Reply, ReplyError

READONLY = ReplyError("READONLY You can't write against a read only replica.")
NOREPLICAS = ReplyError("NOREPLICAS Not enough good replicas to write.")
MASTERDOWN = ReplyError(
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
)

#: Why ``session`` may not run the command now (None: it may).
Refusal = Callable[[Session], "ReplyError | None"]


def guarded_table(
    table: dict[bytes, Command], write: Refusal, stale: Refusal
) -> dict[bytes, Command]:
    """``table`` with write commands checked by ``write``, and the commands Redis does not
    flag ``stale`` checked by ``stale`` (containers such as CONFIG and CLIENT excepted: their
    subcommands may run stale)."""
    wrapped = dict(table)
    for name, command in table.items():
        if command.write:
            wrapped[name] = _checked(command, write)
        elif "stale" not in command.flags and name not in SUBCOMMAND_TABLES:
            wrapped[name] = _checked(command, stale)
    return wrapped


def _checked(command: Command, refusal: Refusal) -> Command:
    handler: Handler = command.handler

    def checked(session: Session, args: list[bytes]) -> Reply:
        error = refusal(session)
        if error is not None:
            raise error
        return handler(session, args)

    return dataclasses.replace(command, handler=checked)
