"""``--log-format json``: one JSON object per line; notable events only, never one per command."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

import redis

from conftest import ServerProcess
from kvstore.server.logs import JsonFormatter

Factory = Callable[..., ServerProcess]


def test_json_lines_from_start_to_stop(server_factory: Factory) -> None:
    server = server_factory("--no-persist", "--log-format", "json")
    r = redis.Redis(port=server.port, socket_timeout=10)
    for i in range(50):
        r.set(f"k{i}", i)
        r.get(f"k{i}")
    assert r.dbsize() == 50
    r.shutdown(nosave=True)
    entries = [json.loads(line) for line in server.finish_log(timeout=15)]
    assert server.proc.returncode == 0
    for entry in entries:
        assert set(entry) == {"time", "level", "logger", "message"}
        assert entry["time"].endswith("+00:00")
    messages = [entry["message"] for entry in entries]
    assert messages[0].startswith("kvstore ")
    assert "listening on" in messages[0]
    # The start, the command that stops it, the stop: nothing for the 101 other commands.
    assert messages[1:] == [
        "SHUTDOWN NOSAVE received",
        "stop requested: closing connections",
        "server stopped",
    ]
    assert {entry["level"] for entry in entries} == {"info"}
    assert {entry["logger"] for entry in entries} == {"kvstore.server"}


def test_the_text_format_stays_the_default(server_factory: Factory) -> None:
    server = server_factory("--no-persist")
    banner = next(line for line in server.log if "listening on" in line)
    assert " INFO kvstore.server: kvstore " in banner


def test_an_exception_is_kept_in_one_line() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord(
            "kvstore.x", logging.ERROR, __file__, 1, "it %s", ("failed",), None
        )
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "it failed"
    assert entry["level"] == "error"
    assert "ValueError: broken" in entry["error"]
