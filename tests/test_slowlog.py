"""SLOWLOG, INFO commandstats/errorstats, CONFIG RESETSTAT and LATENCY: the rules in process,
and the replies' shapes next to a real redis-server's with every command logged."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ServerProcess, start_server
from differential_support import Reply, RespConnection
from kvstore.commands import CommandStats, Dispatcher, ServerState, Session
from kvstore.commands.commandstats import reset_stats
from kvstore.commands.info import render_info
from kvstore.commands.stats import SlowLog, shown_args
from kvstore.config import ConfigError, load_config
from kvstore.protocol import ReplyError, Status
from test_client_support import RedisServer, start_redis_server

LOG_EVERYTHING = ("--slowlog-log-slower-than", "0", "--slowlog-max-len", "5")


def session_with(slower_than_us: int = 0, max_len: int = 128) -> Session:
    stats = CommandStats()
    dispatcher = Dispatcher(
        stats=stats, slowlog_log_slower_than=slower_than_us, slowlog_max_len=max_len
    )
    return Session(ServerState(stats=stats, runner=dispatcher), addr="127.0.0.1:1234")


def dispatcher_of(session: Session) -> Dispatcher:
    assert isinstance(session.server.runner, Dispatcher)
    return session.server.runner


def run(session: Session, *args: bytes) -> object:
    return dispatcher_of(session).execute(session, list(args))


# -- in process --------------------------------------------------------------------------------


def test_arguments_are_cut_as_redis_cuts_them() -> None:
    assert shown_args([b"set", b"k", b"v"]) == [b"set", b"k", b"v"]
    long = b"x" * 128
    assert shown_args([b"set", b"k", long]) == [b"set", b"k", long]
    assert shown_args([b"set", b"k", long + b"yz"]) == [b"set", b"k", long + b"... (2 more bytes)"]
    args = [b"del", *(b"k%d" % i for i in range(31))]  # 32: all kept
    assert shown_args(args) == args
    args.append(b"k31")  # 33: 31 kept, then how many more
    assert shown_args(args) == [*args[:31], b"... (2 more arguments)"]


def test_passwords_never_reach_the_log() -> None:
    assert shown_args([b"AUTH", b"secret"]) == [b"AUTH", b"(redacted)"]
    assert shown_args([b"auth", b"user", b"secret"]) == [b"auth", b"(redacted)", b"(redacted)"]
    hello = [b"HELLO", b"3", b"AUTH", b"user", b"secret", b"SETNAME", b"n"]
    expected = [b"HELLO", b"3", b"AUTH", b"(redacted)", b"(redacted)", b"SETNAME", b"n"]
    assert shown_args(hello) == expected


def test_threshold_length_and_ids() -> None:
    session = session_with(0, max_len=3)
    for i in range(5):
        run(session, b"set", b"k%d" % i, b"v")
    entries = run(session, b"slowlog", b"get", b"-1")
    assert isinstance(entries, list)
    assert [entry[0] for entry in entries] == [4, 3, 2]  # newest first, 3 kept
    assert entries[0][3] == [b"set", b"k4", b"v"]
    assert entries[0][4:] == [b"127.0.0.1:1234", b""]
    assert run(session, b"slowlog", b"len") == 3  # SLOWLOG GET itself was logged too
    assert run(session, b"slowlog", b"reset") == Status("OK")
    run(session, b"get", b"k0")
    # ids go on after RESET: 5, 6 and 7 were SLOWLOG GET, LEN and RESET (logged after it ran)
    newest = run(session, b"slowlog", b"get", b"1")
    assert isinstance(newest, list)
    assert [(entry[0], entry[3]) for entry in newest] == [(8, [b"get", b"k0"])]
    log = SlowLog(-1)
    assert log.slower_than_us == -1
    log.configure(slower_than_us=250)
    assert (log.slower_than_us, log.threshold_ns) == (250, 250_000)


def test_negative_threshold_logs_nothing() -> None:
    session = session_with(-1)
    run(session, b"set", b"k", b"v")
    assert run(session, b"slowlog", b"len") == 0


def test_slowlog_errors() -> None:
    session = session_with()
    assert run(session, b"slowlog", b"get", b"-2") == ReplyError(
        "ERR count should be greater than or equal to -1"
    )
    assert run(session, b"slowlog", b"nope") == ReplyError(
        "ERR unknown subcommand 'nope'. Try SLOWLOG HELP."
    )
    assert run(session, b"slowlog", b"len", b"x") == ReplyError(
        "ERR wrong number of arguments for 'slowlog|len' command"
    )


def test_commandstats_and_errorstats() -> None:
    session = session_with(-1)
    run(session, b"set", b"k", b"v")
    run(session, b"get", b"k")
    run(session, b"get")  # rejected: arity
    run(session, b"incr", b"k")  # failed: not an integer
    run(session, b"nosuch")  # unknown: an error, no command
    text = render_info(session, [b"commandstats", b"errorstats"])
    stats = dict(re.findall(r"cmdstat_(\w+):(.*)\r\n", text))
    assert re.fullmatch(
        r"calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=1,failed_calls=0", stats["get"]
    )
    assert stats["incr"].endswith("rejected_calls=0,failed_calls=1")
    assert "errorstat_ERR:count=3\r\n" in text
    assert text.startswith("# Commandstats\r\n")
    assert "# Errorstats\r\n" in text
    reset_stats(session.server)
    text = render_info(session, [b"commandstats", b"errorstats", b"stats"])
    assert "cmdstat_" not in text
    assert "errorstat_" not in text
    assert "total_error_replies:0\r\n" in text


def test_config_resetstat_and_latency() -> None:
    session = session_with(-1)
    run(session, b"get", b"k")
    assert session.db.misses == 1
    assert run(session, b"config", b"resetstat") == Status("OK")
    assert session.db.misses == 0
    assert run(session, b"latency", b"latest") == []
    assert run(session, b"latency", b"history", b"command") == []
    assert b"SLOWLOG" in run(session, b"latency", b"doctor")  # type: ignore[operator]


# -- next to Redis -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, ServerProcess]]:
    peer = start_redis_server(tmp_path_factory.mktemp("redis"), *LOG_EVERYTHING)
    ours = start_server("--no-persist", *LOG_EVERYTHING)
    yield peer, ours
    peer.stop()
    ours.stop()


def shape(reply: Reply) -> object:
    """A reply with what may differ between two servers masked: times, ids, ports."""
    if reply.parts:
        return [reply.kind, [shape(part) for part in reply.parts]]
    if reply.kind == b":":
        return reply.kind
    return [reply.kind, re.sub(rb":\d+$", b":PORT", reply.text)]


def drive(port: int) -> tuple[Reply, Reply, Reply, Reply, Reply]:
    conn = RespConnection("127.0.0.1", port)
    try:
        assert conn.call([b"SLOWLOG", b"RESET"]).raw == b"+OK\r\n"
        conn.call([b"CLIENT", b"SETNAME", b"watcher"])
        conn.call([b"SET", b"k", b"v" * 300])
        conn.call([b"DEL", *(b"key%d" % i for i in range(40))])
        got = conn.call([b"SLOWLOG", b"GET", b"3"])
        return (
            got,
            conn.call([b"SLOWLOG", b"LEN"]),
            conn.call([b"SLOWLOG", b"GET", b"-2"]),
            conn.call([b"SLOWLOG", b"FOO"]),
            conn.call([b"SLOWLOG", b"HELP"]),
        )
    finally:
        conn.close()


def test_reply_shapes_match_redis(servers: tuple[RedisServer, ServerProcess]) -> None:
    peer, ours = servers
    expected, actual = drive(peer.port), drive(ours.port)
    assert shape(actual[0]) == shape(expected[0])
    entry = actual[0].parts[0]
    assert abs(int(entry.parts[1].text) - time.time()) < 60  # unix time, in seconds
    assert actual[0].parts[0].parts[3].parts[-1].text == b"... (10 more arguments)"  # DEL, 41
    for ours_reply, redis_reply in zip(actual[1:4], expected[1:4], strict=True):
        assert ours_reply.raw == redis_reply.raw
    assert actual[4].kind == expected[4].kind == b"*"
    assert all(line.kind == b"+" for line in actual[4].parts)


def test_commandstats_lines_match_redis(servers: tuple[RedisServer, ServerProcess]) -> None:
    for server in servers:
        conn = RespConnection("127.0.0.1", server.port)
        try:
            conn.call([b"GET", b"k"])
            conn.call([b"GET"])
            text = conn.call([b"INFO", b"commandstats"]).text.decode()
        finally:
            conn.close()
        line = re.search(r"cmdstat_get:(.*)\r\n", text)
        assert line is not None, text
        fields = [pair.split("=")[0] for pair in line.group(1).split(",")]
        assert fields == ["calls", "usec", "usec_per_call", "rejected_calls", "failed_calls"]


def test_flags_configure_the_log(tmp_path: Path) -> None:
    server = start_server("--no-persist", "--slowlog-log-slower-than", "-1")
    try:
        conn = RespConnection("127.0.0.1", server.port)
        conn.call([b"SET", b"k", b"v"])
        assert conn.call([b"SLOWLOG", b"LEN"]).raw == b":0\r\n"
        got = conn.call([b"CONFIG", b"GET", b"slowlog-*"])
        values = [part.text for part in got.parts]
        assert values[values.index(b"slowlog-log-slower-than") + 1] == b"-1"
        assert values[values.index(b"slowlog-max-len") + 1] == b"128"
        conn.close()
    finally:
        server.stop()


@pytest.mark.parametrize("maxmemory", [(), ("--maxmemory", "1gb")], ids=["", "maxmemory"])
def test_flags_configure_the_log_that_runs(maxmemory: tuple[str, ...]) -> None:
    """The slow log's flags reach the dispatcher that serves, with --maxmemory too (whose
    guarded command table once came with a dispatcher of its own, unconfigured)."""
    logging_all = start_server(
        "--no-persist", "--slowlog-log-slower-than", "0", "--slowlog-max-len", "5", *maxmemory
    )
    untimed = start_server(  # no slow log, no latency histograms: commands are not timed
        "--no-persist",
        "--slowlog-log-slower-than",
        "-1",
        "--slowlog-max-len",
        "5",
        "--latency-tracking",
        "no",
        *maxmemory,
    )
    try:
        for server in (logging_all, untimed):
            conn = RespConnection("127.0.0.1", server.port)
            try:
                got = conn.call([b"CONFIG", b"GET", b"slowlog-max-len"])
                assert [part.text for part in got.parts] == [b"slowlog-max-len", b"5"]
                for i in range(20):
                    conn.call([b"SET", b"k%d" % i, b"v"])
                length = conn.call([b"SLOWLOG", b"LEN"]).raw
                text = conn.call([b"INFO", b"commandstats"]).text.decode()
            finally:
                conn.close()
            if server is logging_all:
                assert length == b":5\r\n"  # every command logged, the newest 5 kept
            else:
                assert length == b":0\r\n"
                assert "cmdstat_set:calls=20,usec=0,usec_per_call=0.00," in text
    finally:
        logging_all.stop()
        untimed.stop()


def test_options_parse() -> None:
    config = load_config(["--slowlog-log-slower-than", "-1", "--slowlog-max-len", "7"], {})
    assert (config.slowlog_log_slower_than, config.slowlog_max_len) == (-1, 7)
    config = load_config([], {"KVSTORE_METRICS_PORT": "9121", "KVSTORE_METRICS_BIND": "::1"})
    assert (config.metrics_port, config.metrics_bind) == (9121, "::1")
    defaults = load_config([], {})
    assert (defaults.slowlog_log_slower_than, defaults.slowlog_max_len) == (10_000, 128)
    assert defaults.metrics_port == 0
    with pytest.raises(ConfigError, match="metrics port"):
        load_config(["--metrics-port", "70000"], {})
    with pytest.raises(ConfigError, match="slowlog-max-len"):
        load_config(["--slowlog-max-len", "-1"], {})


def test_with_the_log_off_commands_are_not_timed() -> None:
    session = session_with(-1)
    session.server.stats.latency_tracking = False  # nor latency histograms, nor the monitor
    dispatcher_of(session).configure_slowlog()
    run(session, b"set", b"k", b"v")
    assert "cmdstat_set:calls=1,usec=0," in render_info(session, [b"commandstats"])
    dispatcher_of(session).configure_slowlog(0)  # on again, at run time
    run(session, b"set", b"k", b"v")
    assert run(session, b"slowlog", b"len") == 1
