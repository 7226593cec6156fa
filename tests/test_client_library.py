"""The Python library against real servers: sync and asyncio, each with both reply parsers.

The ``server`` fixture runs every test on the server's fast and pure variants; ``parser``
runs it with hiredis and with the pure-Python reply parser.
"""

from __future__ import annotations

import asyncio
import builtins
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest

import kvstore
from conftest import ROOT, ServerProcess, closed_port, wait_for
from kvstore.client import Address, AddressError, parse_address
from kvstore.client.core import ParserChoice
from kvstore.client.errors import RESPONSE_ERRORS, response_error
from test_client_support import RedisServer, start_redis_server

T = TypeVar("T")


@pytest.fixture(params=["hiredis", "python"])
def parser(request: pytest.FixtureRequest) -> ParserChoice:
    if request.param == "hiredis":
        pytest.importorskip("hiredis")
    name: ParserChoice = request.param
    return name


@pytest.fixture
def client(server: ServerProcess, parser: ParserChoice) -> Iterator[kvstore.Client]:
    with kvstore.Client(server.address, parser=parser) as connected:
        yield connected


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """A key no other test uses (the module's servers are shared)."""
    return f"key:{request.node.name}"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into its backlog) and never replies."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("redis"), "--requirepass", "s3cret")
    yield server
    server.stop()


def client_ids(server: ServerProcess) -> set[int]:
    """The ids of the connections the server has open, seen from a fresh connection."""
    with kvstore.Client(server.address) as observer:
        listing: bytes = observer.execute_command("CLIENT", "LIST")
        own: int = observer.execute_command("CLIENT", "ID")
    ids = {int(line.split()[0].split(b"=")[1]) for line in listing.splitlines()}
    return ids - {own}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("localhost", "localhost", 5000),
        ("127.0.0.1:6000", "127.0.0.1", 6000),
        ("[::1]:6001", "::1", 6001),
        ("[::1]", "::1", 5000),
        ("::1", "::1", 5000),
        ("fe80::1:2", "fe80::1:2", 5000),
        ("db.example:65535", "db.example", 65535),
    ],
)
def test_address_forms(text: str, host: str, port: int) -> None:
    address = parse_address(text)
    assert (address.host, address.port) == (host, port)
    assert parse_address(str(address)) == address  # str() writes a form that parses back


@pytest.mark.parametrize(
    "text", ["", ":5000", "host:", "host:0", "host:65536", "host:http", "[::1", "[::1]x", "[zz]"]
)
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(AddressError, match=r"invalid|missing"):
        parse_address(text)


def test_address_display_brackets_ipv6() -> None:
    assert str(Address("::1", 7000)) == "[::1]:7000"
    assert str(Address("127.0.0.1", 7000)) == "127.0.0.1:7000"


# -- errors ----------------------------------------------------------------------------------


def test_error_table_maps_each_code_to_its_class() -> None:
    assert set(RESPONSE_ERRORS) == {
        "NOAUTH", "WRONGPASS", "WRONGTYPE", "OOM", "MISCONF", "EXECABORT", "NOPROTO",
        "READONLY", "BUSY",
    }  # fmt: skip
    for code, cls in RESPONSE_ERRORS.items():
        error = response_error(f"{code} something went wrong")
        assert type(error) is cls
        assert isinstance(error, kvstore.ResponseError)
        assert (error.code, error.message) == (code, f"{code} something went wrong")
    plain = response_error("ERR syntax error")
    assert type(plain) is kvstore.ResponseError
    assert plain.code == "ERR"


def test_connection_errors_are_also_builtins() -> None:
    assert issubclass(kvstore.ConnectionError, builtins.ConnectionError)
    assert issubclass(kvstore.TimeoutError, builtins.TimeoutError)
    for cls in (kvstore.ConnectionError, kvstore.TimeoutError, kvstore.ProtocolError):
        assert issubclass(cls, kvstore.KvstoreError)


# -- the sync client -------------------------------------------------------------------------


def test_set_get_round_trip(client: kvstore.Client, key: str) -> None:
    assert client.get(key) is None
    assert client.set(key, "oslo") is True
    assert client.get(key) == b"oslo"
    assert client.get(key.encode()) == b"oslo"  # a bytes key is the same key
    binary = bytes(range(256)) + b"\r\n$-1\r\n"
    assert client.set(key, binary) is True
    assert client.get(key) == binary
    assert client.set(key, "blåbær") is True
    assert client.get(key) == "blåbær".encode()


def test_large_value_arrives_in_many_reads(client: kvstore.Client, key: str) -> None:
    value = bytes(range(256)) * 8192  # 2 MiB: many chunks through the parser
    assert client.set(key, value)
    assert client.get(key) == value


def test_numbers_are_sent_in_decimal(client: kvstore.Client, key: str) -> None:
    client.set(key, 42)
    assert client.get(key) == b"42"
    client.set(key, 2.5)
    assert client.get(key) == b"2.5"
    with pytest.raises(TypeError, match="bool"):
        client.set(key, True)


def test_set_nx_and_xx_report_whether_they_wrote(client: kvstore.Client, key: str) -> None:
    assert client.set(key, "1", xx=True) is False
    assert client.get(key) is None
    assert client.set(key, "1", nx=True) is True
    assert client.set(key, "2", nx=True) is False
    assert client.get(key) == b"1"
    assert client.set(key, "3", xx=True) is True
    assert client.get(key) == b"3"


def test_put_only_inserts(client: kvstore.Client, key: str) -> None:
    assert client.put(key, "first") is True
    assert client.put(key, "second") is False
    assert client.get(key) == b"first"


@pytest.mark.parametrize("expiry", [{"px": 50}, {"px": timedelta(milliseconds=50)}])
def test_set_px_expires(client: kvstore.Client, key: str, expiry: dict[str, Any]) -> None:
    assert client.set(key, "v", **expiry)
    wait_for(lambda: client.get(key) is None, 5, "the key to expire")


def test_set_ex_keeps_the_key_for_now(client: kvstore.Client, key: str) -> None:
    assert client.set(key, "v", ex=100)
    assert client.set(key + ":td", "v", ex=timedelta(minutes=1))
    assert client.exists(key, key + ":td") == 2


def test_keepttl_keeps_the_expiry(client: kvstore.Client, key: str) -> None:
    assert client.set(key, "old", px=100)
    assert client.set(key, "new", keepttl=True)
    assert client.get(key) == b"new"
    # A plain SET would have cleared the deadline; with KEEPTTL the key still expires.
    wait_for(lambda: client.get(key) is None, 5, "the key to expire")


@pytest.mark.parametrize(
    "options",
    [{"nx": True, "xx": True}, {"ex": 1, "px": 1}, {"ex": 1, "keepttl": True}],
)
def test_conflicting_set_options_raise_before_sending(
    client: kvstore.Client, key: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="exclude"):
        client.set(key, "v", **options)
    assert client.get(key) is None


def test_delete_and_exists_count_keys(client: kvstore.Client, key: str) -> None:
    client.set(key + ":a", "1")
    client.set(key + ":b", "2")
    assert client.exists(key + ":a", key + ":b", key + ":c") == 2
    assert client.exists(key + ":a", key + ":a") == 2  # named twice, counted twice
    assert client.delete(key + ":a", key + ":b", key + ":c") == 2
    assert client.delete(key + ":a") == 0
    assert client.exists(key + ":a", key + ":b") == 0
    with pytest.raises(ValueError, match="at least one key"):
        client.delete()


def test_ping_and_echo(client: kvstore.Client) -> None:
    assert client.ping() is True
    assert client.echo("hello world") == b"hello world"
    assert client.echo(b"\x00\xff") == b"\x00\xff"


def test_execute_command_returns_raw_replies(client: kvstore.Client, key: str) -> None:
    assert client.execute_command("SET", key, "v") == b"OK"  # a status, as bytes
    assert client.execute_command("GET", key) == b"v"
    assert client.execute_command("GET", key + ":missing") is None
    assert client.execute_command("EXISTS", key, key) == 2
    assert client.execute_command("CONFIG", "GET", "appendonly") == [b"appendonly", b"yes"]


def test_resp3_after_hello_3(server: ServerProcess, parser: ParserChoice) -> None:
    with kvstore.Client(server.address, parser=parser) as client:
        hello = client.execute_command("HELLO", "3")
        assert hello[b"server"] == b"kvstore"
        assert hello[b"proto"] == 3
        assert client.execute_command("CONFIG", "GET", "appendonly") == {b"appendonly": b"yes"}
        assert client.set("resp3", "v") is True
        assert client.get("resp3") == b"v"


def test_error_replies_raise_typed_errors(client: kvstore.Client) -> None:
    with pytest.raises(kvstore.ResponseError) as arity:
        client.execute_command("GET")
    assert type(arity.value) is kvstore.ResponseError
    assert arity.value.code == "ERR"
    assert arity.value.message == "ERR wrong number of arguments for 'get' command"
    with pytest.raises(kvstore.ResponseError, match="unknown command 'NOSUCH'"):
        client.execute_command("NOSUCH", "a")
    with pytest.raises(kvstore.UnsupportedProtocolError) as noproto:
        client.execute_command("HELLO", "4")
    assert noproto.value.code == "NOPROTO"
    with pytest.raises(kvstore.ResponseError, match="syntax error"):
        client.execute_command("SET", "k", "v", "BOGUS")
    assert client.ping()  # an error reply leaves the connection usable


def test_pipeline_sends_many_and_returns_results_in_order(client: kvstore.Client, key: str) -> None:
    with client.pipeline() as pipe:
        returned = pipe.set(key, "1").get(key).put(key, "2").exists(key).delete(key)
        assert returned is pipe
        pipe.get(key).ping().echo("e").execute_command("EXISTS", key)
        assert len(pipe) == 9
        results = pipe.execute()
    assert results == [True, b"1", False, 1, 1, None, True, b"e", 0]
    assert len(pipe) == 0


def test_long_pipeline(client: kvstore.Client, key: str) -> None:
    count = 2000
    with client.pipeline() as pipe:
        for i in range(count):
            pipe.set(f"{key}:{i}", i)
        for i in range(count):
            pipe.get(f"{key}:{i}")
        results = pipe.execute()
    assert results == [True] * count + [b"%d" % i for i in range(count)]


def test_pipeline_errors(client: kvstore.Client, key: str) -> None:
    pipe = client.pipeline()
    pipe.set(key, "before").execute_command("NOSUCH").set(key, "after").get(key)
    with pytest.raises(kvstore.ResponseError, match="unknown command"):
        pipe.execute()
    # Every reply was read: the commands after the error ran, and the connection is in step.
    assert client.get(key) == b"after"
    pipe.execute_command("GET").get(key)
    results = pipe.execute(raise_on_error=False)
    assert isinstance(results[0], kvstore.ResponseError)
    assert results[0].message == "ERR wrong number of arguments for 'get' command"
    assert results[1] == b"after"


def test_pipeline_with_block_discards_unexecuted_calls(client: kvstore.Client, key: str) -> None:
    with client.pipeline() as pipe:
        pipe.set(key, "never")
    assert len(pipe) == 0
    assert pipe.execute() == []
    assert client.get(key) is None


def test_connect_failure_raises_connection_error(parser: ParserChoice) -> None:
    with closed_port() as port:  # nothing listens there
        client = kvstore.Client(f"127.0.0.1:{port}", parser=parser)
        with pytest.raises(kvstore.ConnectionError) as failure:
            client.ping()
    assert str(failure.value) == f"cannot connect to 127.0.0.1:{port} (Connection refused)"
    assert isinstance(failure.value, builtins.ConnectionError)
    assert not client.connected


def test_with_block_closes_the_connection(server: ServerProcess, parser: ParserChoice) -> None:
    with kvstore.Client(server.address, parser=parser) as client:
        assert client.connected
        own = client.execute_command("CLIENT", "ID")
        assert own in client_ids(server)
    assert not client.connected
    wait_for(lambda: own not in client_ids(server), 10, "the server to see the close")
    with pytest.raises(kvstore.ConnectionError, match="closed"):
        client.get("k")


def test_reconnects_after_the_server_closed_the_connection(
    client: kvstore.Client, key: str
) -> None:
    client.set(key, "v")
    first = client.execute_command("CLIENT", "ID")
    assert client.execute_command("QUIT") == b"OK"  # the server closes after this reply
    with pytest.raises(kvstore.ConnectionError, match="lost"):
        client.get(key)
    assert not client.connected
    assert client.get(key) == b"v"  # the next command connects again
    assert client.execute_command("CLIENT", "ID") != first


def test_socket_timeout(silent_port: int, parser: ParserChoice) -> None:
    client = kvstore.Client(
        f"127.0.0.1:{silent_port}",
        socket_timeout=0.2,
        parser=parser,
    )
    with pytest.raises(kvstore.TimeoutError, match="no reply") as failure:
        client.get("k")
    assert isinstance(failure.value, builtins.TimeoutError)
    assert not client.connected  # the late reply must not be read as the next one's
    client.close()


def test_close_from_another_thread_unblocks_a_command() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = kvstore.Client(f"127.0.0.1:{listener.getsockname()[1]}")
        client.connect()
        peer, _ = listener.accept()
        errors: list[BaseException] = []

        def blocked() -> None:
            try:
                client.get("k")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=blocked)
        thread.start()
        with peer:
            peer.settimeout(10)
            # The request arrived, so the command now waits for a reply that never comes.
            assert peer.recv(100) == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
            client.close()
            thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], kvstore.ConnectionError)
    assert "lost" in str(errors[0])


def test_threads_share_a_client(client: kvstore.Client, key: str) -> None:
    # Checked here, not in the threads: pytest only warns about a thread's exception.
    replies: dict[str, object] = {}
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(50):
                name = f"{key}:{index}:{n}"
                client.set(name, name)
                replies[name] = client.get(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not [thread for thread in threads if thread.is_alive()], "threads still running"
    assert errors == []
    names = [f"{key}:{i}:{n}" for i in range(8) for n in range(50)]
    assert replies == {name: name.encode() for name in names}
    assert client.exists(*names) == 400


def test_ipv6_address(server_factory: Callable[..., ServerProcess], parser: ParserChoice) -> None:
    server = server_factory("--bind", "::1")
    with kvstore.Client(f"[::1]:{server.port}", parser=parser) as client:
        assert client.set("six", "v6")
        assert client.get("six") == b"v6"


def test_unknown_parser_is_refused() -> None:
    with pytest.raises(ValueError, match="parser"):
        kvstore.Client(parser="fast")  # type: ignore[arg-type]


# -- authentication, on a real redis-server with a password -----------------------------------


def test_password_is_sent_with_auth(redis_with_password: RedisServer, parser: ParserChoice) -> None:
    address = redis_with_password.address
    with kvstore.Client(address, password="s3cret", parser=parser) as client:
        assert client.set("auth", "ok")
        assert client.get("auth") == b"ok"
    with pytest.raises(kvstore.AuthenticationRequiredError) as noauth:
        kvstore.Client(address, parser=parser).get("auth")
    assert noauth.value.code == "NOAUTH"
    wrong = kvstore.Client(address, password="wrong", parser=parser)
    with pytest.raises(kvstore.AuthenticationError) as wrongpass:
        wrong.connect()
    assert wrongpass.value.code == "WRONGPASS"
    assert not wrong.connected  # a refused handshake leaves no connection behind


def test_wrong_type_on_redis(redis_with_password: RedisServer) -> None:
    with kvstore.Client(redis_with_password.address, password="s3cret") as client:
        client.delete("list")
        client.execute_command("RPUSH", "list", "a")
        with pytest.raises(kvstore.WrongTypeError) as failure:
            client.get("list")
    assert failure.value.code == "WRONGTYPE"


# -- the asyncio client ----------------------------------------------------------------------


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_runner(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine on asyncio's own loop or on uvloop."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        runner: Callable[[Coroutine[Any, Any, Any]], Any] = uvloop.run
        return runner
    return asyncio.run


def test_async_round_trip(
    server: ServerProcess,
    parser: ParserChoice,
    key: str,
    loop_runner: Callable[[Coroutine[Any, Any, Any]], Any],
) -> None:
    async def scenario() -> None:
        async with kvstore.AsyncClient(server.address, parser=parser) as client:
            assert await client.get(key) is None
            assert await client.set(key, "oslo") is True
            assert await client.get(key) == b"oslo"
            assert await client.put(key, "bergen") is False
            assert await client.set(key, "x", xx=True, px=60_000) is True
            assert await client.exists(key, key) == 2
            assert await client.delete(key) == 1
            assert await client.ping() is True
            assert await client.echo("e") == b"e"
            assert await client.execute_command("GET", key) is None
            big = bytes(range(256)) * 8192
            assert await client.set(key, big)
            assert await client.get(key) == big

    loop_runner(scenario())


def test_async_pipeline(
    server: ServerProcess,
    parser: ParserChoice,
    key: str,
    loop_runner: Callable[[Coroutine[Any, Any, Any]], Any],
) -> None:
    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        async with kvstore.AsyncClient(server.address, parser=parser) as client:
            with client.pipeline() as pipe:
                pipe.set(key, "1").get(key).put(key, "2").delete(key)
                first = await pipe.execute()
            async with client.pipeline() as pipe:
                pipe.execute_command("NOSUCH").set(key, "after")
                with pytest.raises(kvstore.ResponseError, match="unknown command"):
                    await pipe.execute()
                pipe.execute_command("GET").get(key)
                second = await pipe.execute(raise_on_error=False)
            many = client.pipeline()
            for i in range(1000):
                many.echo(str(i))
            third = await many.execute()
            return first, second, third

    first, second, third = loop_runner(scenario())
    assert first == [True, b"1", False, 1]
    assert isinstance(second[0], kvstore.ResponseError)
    assert second[1] == b"after"
    assert third == [str(i).encode() for i in range(1000)]


def test_async_errors(server: ServerProcess, parser: ParserChoice) -> None:
    async def scenario() -> None:
        async with kvstore.AsyncClient(server.address, parser=parser) as client:
            with pytest.raises(kvstore.ResponseError) as arity:
                await client.execute_command("GET")
            assert arity.value.message == "ERR wrong number of arguments for 'get' command"
            with pytest.raises(kvstore.UnsupportedProtocolError):
                await client.execute_command("HELLO", "4")
            assert await client.ping()

    run(scenario())


def test_async_tasks_share_a_client(server: ServerProcess, parser: ParserChoice, key: str) -> None:
    async def scenario() -> list[bool]:
        async with kvstore.AsyncClient(server.address, parser=parser) as client:

            async def one(i: int) -> bool:
                await client.set(f"{key}:{i}", i)
                return await client.get(f"{key}:{i}") == b"%d" % i

            return await asyncio.gather(*(one(i) for i in range(200)))

    assert run(scenario()) == [True] * 200


def test_async_connect_failure(parser: ParserChoice) -> None:
    async def scenario() -> None:
        client = kvstore.AsyncClient(f"127.0.0.1:{port}", parser=parser)
        await client.get("k")

    with closed_port() as port, pytest.raises(kvstore.ConnectionError) as failure:
        run(scenario())
    assert str(failure.value).startswith(f"cannot connect to 127.0.0.1:{port} (")


def test_async_with_block_closes_the_connection(
    server: ServerProcess, parser: ParserChoice
) -> None:
    async def scenario() -> tuple[kvstore.AsyncClient, int]:
        async with kvstore.AsyncClient(server.address, parser=parser) as client:
            own: int = await client.execute_command("CLIENT", "ID")
            assert own in client_ids(server)
        return client, own

    client, own = run(scenario())
    assert not client.connected
    wait_for(lambda: own not in client_ids(server), 10, "the server to see the close")


def test_async_timeout_and_cancellation_drop_the_connection(silent_port: int) -> None:
    async def scenario() -> None:
        client = kvstore.AsyncClient(f"127.0.0.1:{silent_port}", socket_timeout=0.2)
        with pytest.raises(kvstore.TimeoutError, match="no reply") as failure:
            await client.get("k")
        assert isinstance(failure.value, builtins.TimeoutError)
        assert not client.connected
        # Cancelled by the caller this time: the connection is dropped just the same.
        patient = kvstore.AsyncClient(f"127.0.0.1:{silent_port}")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(patient.get("k"), 0.2)
        assert not patient.connected
        await client.close()
        await patient.close()

    run(scenario())


def test_async_password(redis_with_password: RedisServer, parser: ParserChoice) -> None:
    address = redis_with_password.address

    async def scenario() -> None:
        async with kvstore.AsyncClient(address, password="s3cret", parser=parser) as client:
            assert await client.set("async-auth", "ok")
        with pytest.raises(kvstore.AuthenticationError):
            await kvstore.AsyncClient(address, password="nope").connect()

    run(scenario())


def test_pipeline_and_client_have_the_same_commands() -> None:
    """The method list is written once: every command exists on all four classes."""
    names = {"get", "set", "put", "delete", "exists", "ping", "echo", "execute_command"}
    for cls in (kvstore.Client, kvstore.AsyncClient, kvstore.Pipeline, kvstore.AsyncPipeline):
        assert names <= set(dir(cls))
    assert kvstore.Client.get.__doc__ == kvstore.AsyncClient.get.__doc__
    assert "does not exist" in (kvstore.Client.get.__doc__ or "")


def test_async_client_commands_are_awaitable(server: ServerProcess) -> None:
    async def scenario() -> bool:
        client = kvstore.AsyncClient(server.address)
        pending = client.ping()
        assert asyncio.iscoroutine(pending)  # nothing runs until awaited
        result: bool = await pending
        await client.close()
        return result

    assert run(scenario()) is True


# -- packaging -------------------------------------------------------------------------------


def test_the_package_offers_the_library_names() -> None:
    """kvstore/__init__.py lists the names it offers (it must answer without loading the
    library); each is one of the library's, the same object."""
    import kvstore.client

    offered = [name for name in kvstore.__all__ if name != "__version__"]
    assert set(offered) <= set(kvstore.client.__all__)
    for name in offered:
        assert getattr(kvstore, name) is getattr(kvstore.client, name)


def test_library_loads_no_server_code() -> None:
    """Layering: the library and the CLI stand on the codecs alone."""
    code = (
        "import sys, kvstore, kvstore.cli.main; "
        "print(' '.join(m for m in sys.modules if m.startswith('kvstore.')))"
    )
    env = {"PYTHONPATH": str(ROOT / "src")}
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert "kvstore.client.core" in loaded
    assert not [m for m in loaded if m.split(".")[1] in ("server", "commands", "keyspace")]


def test_one_version_everywhere() -> None:
    """The version is written once, in kvstore/__init__.py; the rest derive from it."""
    from importlib.metadata import version

    from kvstore.commands import VERSION

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'version = { attr = "kvstore.__version__" }' in pyproject
    assert kvstore.__version__ == VERSION == version("kvstore")
