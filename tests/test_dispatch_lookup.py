"""The dispatcher finds commands however their names are spelled, including commands added to
the table after the dispatcher was made, and counts each call."""

from __future__ import annotations

from kvstore.commands import COMMANDS, Dispatcher, ServerState, Session
from kvstore.commands.table import Args, Command
from kvstore.protocol.replies import PONG, Reply


def _echo_name(session: Session, args: Args) -> Reply:
    return args[0]


def _command(name: str) -> Command:
    return Command(name, 1, frozenset({"fast"}), _echo_name, "test", "test command")


def test_any_spelling_of_a_name_runs_the_command() -> None:
    dispatcher = Dispatcher(dict(COMMANDS))
    session = Session(ServerState())
    for spelling in (b"ping", b"PING", b"Ping", b"pInG"):
        assert dispatcher.execute(session, [spelling]) == PONG
    assert dispatcher.stats.calls["ping"] == 4
    assert dispatcher.stats.total_calls == 4


def test_a_command_added_later_is_found_and_counted() -> None:
    table = {b"first": _command("first")}
    dispatcher = Dispatcher(table)
    session = Session(ServerState())
    table[b"later"] = _command("later")
    assert dispatcher.execute(session, [b"LATER"]) == b"LATER"
    assert dispatcher.execute(session, [b"later"]) == b"later"
    assert dispatcher.execute(session, [b"FIRST"]) == b"FIRST"
    assert dispatcher.stats.calls == {"first": 1, "later": 2}
    assert dispatcher.stats.errors == 0
