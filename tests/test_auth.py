"""Access control: ``--requirepass`` and its sources, AUTH and HELLO AUTH as Redis answers them,
the text protocol's ``auth``, and the clients' ``--password``/``KVSTORE_PASSWORD``.

Redis's behaviour is the reference: the same requests go to a real ``redis-server`` started with
the same password, and the raw replies must match byte for byte.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import kvstore
from conftest import SERVER, VARIANTS, ServerProcess, read_exactly, read_to_eof, start_server
from kvstore.commands import ServerState, Session, auth
from kvstore.config import PASSWORD_MASK, ConfigError, load_config
from kvstore.protocol import ReplyError
from test_client_support import (
    REDIS_CLI,
    RedisServer,
    run_client,
    run_redis_cli,
    start_redis_server,
)

PASSWORD = "s3cret pass"  # a space: the text protocol and the CLI must keep it whole
NEEDS_PASSWORD = (
    b"error: authentication required: give the password with --password or KVSTORE_PASSWORD\n"
)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    process = start_server("--requirepass", PASSWORD, *VARIANTS[request.param])
    yield process
    process.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    process = start_redis_server(tmp_path_factory.mktemp("redis"), "--requirepass", PASSWORD)
    yield process
    process.stop()


def resp(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def exchange(host: str, port: int, requests: list[list[str]]) -> list[bytes]:
    """Each request's reply line, in order, on one connection."""
    replies = []
    with socket.create_connection((host, port), timeout=10) as sock:
        stream = sock.makefile("rb")
        for request in requests:
            sock.sendall(resp(*request))
            replies.append(stream.readline())
    return replies


# -- the same replies as redis-server -----------------------------------------------------------

#: Requests whose reply is one line, sent in order on one unauthenticated connection.
BEFORE_AUTH = [
    ["PING"],
    ["ECHO", "x"],
    ["GET", "k"],
    ["SET", "k", "v"],
    ["CLIENT", "ID"],
    ["CONFIG", "GET", "requirepass"],
    ["SELECT", "0"],
    ["HELLO"],
    ["HELLO", "3"],
    ["HELLO", "3", "SETNAME", "x"],
    ["HELLO", "3", "AUTH", "default", "wrong"],
    ["HELLO", "4", "AUTH", "default", PASSWORD],
    ["AUTH", "wrong"],
    ["AUTH", "default", "wrong"],
    ["AUTH", "someone", PASSWORD],
    ["AUTH", "a", "b", "c"],
    ["AUTH"],
    ["GET"],  # arity is checked before authentication, as in Redis
    ["NOSUCH", "arg"],  # so is the command's existence
    ["AUTH", PASSWORD],
    ["PING"],
    ["AUTH", "wrong"],
    ["PING"],  # a failed AUTH does not undo an earlier success
    ["AUTH", "default", PASSWORD],
    ["QUIT"],
]


def test_replies_match_redis_before_and_after_auth(
    server: ServerProcess, redis_server: RedisServer
) -> None:
    ours = exchange(server.host, server.port, BEFORE_AUTH)
    theirs = exchange(redis_server.host, redis_server.port, BEFORE_AUTH)
    assert ours == theirs
    assert ours[0] == b"-NOAUTH Authentication required.\r\n"
    assert ours[-1] == b"+OK\r\n"


def test_quit_is_allowed_before_auth(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(resp("QUIT"))
        assert read_exactly(sock, 5) == b"+OK\r\n"
        assert sock.recv(10) == b""


def test_hello_with_auth_authenticates_and_switches_protocol(server: ServerProcess) -> None:
    with kvstore.Client(server.address) as client:
        reply = client.execute_command("HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "me")
        assert reply[b"proto"] == 3
        assert client.execute_command("CLIENT", "GETNAME") == b"me"


def test_requests_pipelined_before_and_after_auth(server: ServerProcess) -> None:
    """Authentication takes effect between two requests of one packet."""
    with server.connect() as sock:
        sock.sendall(resp("GET", "pipelined") + resp("AUTH", PASSWORD) + resp("GET", "pipelined"))
        expected = b"-NOAUTH Authentication required.\r\n+OK\r\n$-1\r\n"
        assert read_exactly(sock, len(expected)) == expected


def test_config_get_masks_the_password(server: ServerProcess) -> None:
    with kvstore.Client(server.address, password=PASSWORD) as client:
        reply = client.execute_command("CONFIG", "GET", "requirepass")
    assert reply == [b"requirepass", PASSWORD_MASK.encode()]
    assert PASSWORD.encode() not in b"".join(reply)


def test_config_get_without_a_password_shows_it_empty(fast_server: ServerProcess) -> None:
    with kvstore.Client(fast_server.address) as client:
        assert client.execute_command("CONFIG", "GET", "requirepass") == [b"requirepass", b""]


# -- the text protocol --------------------------------------------------------------------------


def test_text_protocol_auth(server: ServerProcess) -> None:
    with server.connect() as sock:
        stream = sock.makefile("rb")
        for request, reply in [
            (b"get k", b"error: authentication required"),
            (b"put k v", b"error: authentication required"),
            (b"auth wrong", b"error: invalid password"),
            (b"ping", b"error: authentication required"),
            (b"auth " + PASSWORD.encode(), b"OK"),
            (b"set text-auth value", b"OK"),
            (b"get text-auth", b"value"),
            (b"auth wrong", b"error: invalid password"),
            (b"get text-auth", b"value"),
        ]:
            sock.sendall(request + b"\r\n")
            assert stream.readline() == reply + b"\r\n", request


def test_text_protocol_bye_before_auth(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(b"Bye\r\n")
        assert sock.makefile("rb").read() == b"Goodbye\r\n"


# -- where the password comes from --------------------------------------------------------------


def test_password_sources() -> None:
    assert load_config(["--requirepass", "a"], {}).requirepass == "a"
    assert load_config([], {"KVSTORE_REQUIREPASS": "b"}).requirepass == "b"
    assert load_config([], {"KVSTORE_PASSWORD": "c"}).requirepass == "c"
    both_env = {"KVSTORE_REQUIREPASS": "b", "KVSTORE_PASSWORD": "c"}
    assert load_config([], both_env).requirepass == "b"
    assert load_config(["--requirepass", "a"], both_env).requirepass == "a"
    assert load_config([], {}).requirepass == ""


def test_password_file(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("first line\nsecond line\n")
    assert load_config(["--requirepass-file", str(path)], {}).requirepass == "first line"
    env = {"KVSTORE_REQUIREPASS_FILE": str(path), "KVSTORE_PASSWORD": "other"}
    assert load_config([], env).requirepass == "first line"
    # A flag wins over a source in the environment.
    assert load_config(["--requirepass", "flag"], env).requirepass == "flag"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--requirepass", "a", "--requirepass-file", "f"], "not both"),
        (["--requirepass-file", "/nonexistent/password"], "cannot read /nonexistent/password"),
    ],
)
def test_password_source_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv, {})


def test_empty_password_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(["--requirepass-file", str(path)], {})


def test_unreadable_password_file_stops_the_server_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, str(SERVER), "--requirepass-file", "/nonexistent/password"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "kvstore-server: error: --requirepass-file: cannot read /nonexistent/password: "
        "No such file or directory"
    ]


def test_password_from_the_environment_and_banner(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("from-file\n")
    for env in ({"KVSTORE_PASSWORD": "from-env"}, {"KVSTORE_REQUIREPASS_FILE": str(path)}):
        server = start_server(env=env)
        try:
            password = env.get("KVSTORE_PASSWORD", "from-file")
            assert "password required" in "\n".join(server.log)
            assert exchange(server.host, server.port, [["PING"], ["AUTH", password]]) == [
                b"-NOAUTH Authentication required.\r\n",
                b"+OK\r\n",
            ]
        finally:
            server.stop()


def test_passwords_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return given == expected

    monkeypatch.setattr(hmac, "compare_digest", spy)
    session = Session(ServerState(requirepass=b"right"))
    assert not session.authenticated
    with pytest.raises(ReplyError, match="WRONGPASS"):
        auth.authenticate(session, None, b"wrong")
    auth.authenticate(session, b"default", b"right")
    assert session.authenticated
    assert compared == [(b"wrong", b"right"), (b"right", b"right")]


# -- clients ------------------------------------------------------------------------------------


def test_library_password(server: ServerProcess) -> None:
    with kvstore.Client(server.address, password=PASSWORD) as client:
        assert client.ping()
    with kvstore.Client(server.address, username="default", password=PASSWORD) as client:
        assert client.ping()
    with pytest.raises(kvstore.AuthenticationError):
        kvstore.Client(server.address, password="wrong").connect()
    with (
        kvstore.Client(server.address) as client,
        pytest.raises(kvstore.AuthenticationRequiredError),
    ):
        client.ping()


def test_async_library_password(server: ServerProcess) -> None:
    async def scenario() -> None:
        async with kvstore.AsyncClient(server.address, password=PASSWORD) as client:
            assert await client.ping()
        with pytest.raises(kvstore.AuthenticationError):
            await kvstore.AsyncClient(server.address, password="wrong").connect()

    asyncio.run(scenario())


def test_redis_py_password(server: ServerProcess) -> None:
    client = redis.Redis(host=server.host, port=server.port, password=PASSWORD)
    try:
        assert client.set("redis-py-auth", "v")
        assert client.get("redis-py-auth") == b"v"
    finally:
        client.close()
    unauthenticated = redis.Redis(host=server.host, port=server.port)
    try:
        with pytest.raises(redis.AuthenticationError):
            unauthenticated.ping()
    finally:
        unauthenticated.close()
    resp3 = redis.Redis(host=server.host, port=server.port, password=PASSWORD, protocol=3)
    try:
        assert resp3.ping()
    finally:
        resp3.close()


def test_redis_cli_password(server: ServerProcess) -> None:
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed")
    result = run_redis_cli(server.port, ["-a", PASSWORD, "--no-auth-warning", "ping"])
    assert result.stdout == b"PONG\n"
    refused = run_redis_cli(server.port, ["ping"])
    assert refused.stdout.strip() == b"NOAUTH Authentication required."


def test_cli_one_shot_password(server: ServerProcess) -> None:
    node = server.address
    result = run_client("--password", PASSWORD, node, "set", "cli-auth", "v")
    assert (result.returncode, result.stderr) == (0, b"")
    env = {**os.environ, "KVSTORE_PASSWORD": PASSWORD}
    result = run_client(node, "get", "cli-auth", env=env)
    assert (result.stdout, result.returncode) == (b"v\n", 0)
    env.pop("KVSTORE_PASSWORD")
    for args in (["get", "cli-auth"], ["ping"], ["dbsize"]):
        missing = run_client(node, *args, env=env)
        assert (missing.stdout, missing.stderr, missing.returncode) == (b"", NEEDS_PASSWORD, 2)
    wrong = run_client("--password", "wrong", node, "ping", env=env)
    assert wrong.returncode == 2
    assert wrong.stderr == (
        b"error: WRONGPASS invalid username-password pair or user is disabled.\n"
    )


def test_cli_interactive_password(server: ServerProcess) -> None:
    env = {**os.environ, "KVSTORE_PASSWORD": PASSWORD}
    session = b"set cli-interactive v\nget cli-interactive\nBye\n"
    result = run_client(server.host, str(server.port), stdin=session, env=env)
    assert result.returncode == 0
    assert result.stdout.count(b"Server replied: ") == 3
    assert b"Server replied: v\n" in result.stdout
    env.pop("KVSTORE_PASSWORD")
    result = run_client("--password", PASSWORD, server.address, stdin=b"get cli-interactive\n")
    assert b"Server replied: v\n" in result.stdout
    # Without a password the session opens; requests are refused until "auth".
    typed = b"get cli-interactive\nauth " + PASSWORD.encode() + b"\nget cli-interactive\n"
    result = run_client(server.address, stdin=typed, env=env)
    assert result.stdout.splitlines()[1:4] == [
        b"Enter request: Server replied: error: authentication required",
        b"Enter request: Server replied: OK",
        b"Enter request: Server replied: v",
    ]
    wrong = run_client("--password", "wrong", server.address, stdin=b"Bye\n", env=env)
    assert wrong.returncode == 2
    assert wrong.stderr.count(b"\n") == 1
    assert b"Traceback" not in wrong.stderr


# -- requests before authentication are kept small ----------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "error"),
    [
        (b"*11\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16385\r\n",
            b"-ERR Protocol error: unauthenticated bulk length\r\n",
        ),
    ],
)
def test_large_requests_before_auth_close_the_connection(
    server: ServerProcess, request_bytes: bytes, error: bytes
) -> None:
    with server.connect() as sock:
        sock.sendall(request_bytes)
        assert read_to_eof(sock) == error


def test_large_requests_after_auth(server: ServerProcess) -> None:
    value = b"x" * 100_000
    with server.connect() as sock:
        sock.sendall(resp("AUTH", PASSWORD))
        assert read_exactly(sock, 5) == b"+OK\r\n"
        args = [b"SET", b"big-after-auth", value]
        sock.sendall(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        assert read_exactly(sock, 5) == b"+OK\r\n"
        sock.sendall(resp(*(["EXISTS"] + ["big-after-auth"] * 20)))
        assert read_exactly(sock, 5) == b":20\r\n"
