"""Real Redis peers against the server, unmodified: redis-cli, redis-py, redis-benchmark."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from conftest import ServerProcess, read_exactly
from kvstore.protocol import encode_request

pytestmark = pytest.mark.skipif(
    shutil.which("redis-cli") is None or shutil.which("redis-benchmark") is None,
    reason="redis-cli and redis-benchmark are needed (apt-get install redis-tools)",
)


def new_key() -> str:
    return "peer-" + uuid.uuid4().hex


def cli(server: ServerProcess, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["redis-cli", "-h", server.host, "-p", str(server.port), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def command(client: redis.Redis | redis.client.Pipeline, *args: str) -> Any:
    """``execute_command``, which redis-py leaves untyped."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


# -- redis-cli -------------------------------------------------------------------------------


def test_redis_cli_one_shot(server: ServerProcess) -> None:
    key = new_key()
    assert cli(server, "set", key, "hello world") == "OK\n"
    assert cli(server, "get", key) == "hello world\n"
    assert cli(server, "exists", key, key) == "2\n"
    assert cli(server, "del", key) == "1\n"
    assert cli(server, "get", key) == "\n"  # nil
    assert cli(server, "ping") == "PONG\n"
    assert cli(server, "-3", "get", key) == "\n"  # after HELLO 3


def test_redis_cli_shows_redis_errors(server: ServerProcess) -> None:
    # redis-cli prints an error reply and a blank line, as against redis-server.
    assert cli(server, "get") == "ERR wrong number of arguments for 'get' command\n\n"
    assert cli(server, "nosuchcommand", "a", "b") == (
        "ERR unknown command 'nosuchcommand', with args beginning with: 'a' 'b' \n\n"
    )


def test_redis_cli_interactive_from_stdin(server: ServerProcess) -> None:
    key = new_key()
    commands = [
        f"set {key} 1",
        f"get {key}",
        "nosuchcommand",
        f"SET {key} 2 XX",
        f"get {key}",
        f"del {key}",
        f"get {key}",
        "ping",
    ]
    output = cli(server, stdin="\n".join(commands) + "\n")
    assert output.splitlines() == [
        "OK",
        "1",
        "ERR unknown command 'nosuchcommand', with args beginning with: ",
        "",
        "OK",
        "2",
        "1",
        "",
        "PONG",
    ]


# -- redis-py --------------------------------------------------------------------------------

PROTOCOLS = [pytest.param(None, id="default-handshake"), pytest.param(2, id="resp2")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_redis_py_sync(server: ServerProcess, protocol: int | None) -> None:
    client = redis.Redis(host=server.host, port=server.port, protocol=protocol)
    try:
        info = command(client, "CLIENT", "INFO")
        assert f"resp={protocol or 3}".encode() in info  # redis-py 8 sends HELLO 3
        key = new_key()
        assert client.ping() is True
        assert client.set(key, b"v\x00\r\n") is True
        assert client.get(key) == b"v\x00\r\n"
        assert client.set(key, b"w", nx=True) is None
        assert client.exists(key) == 1
        assert client.delete(key, new_key()) == 1
        assert client.get(key) is None
        with pytest.raises(redis.ResponseError, match="unknown command 'nosuch'"):
            command(client, "nosuch", "x")
        with pytest.raises(
            redis.ResponseError, match="wrong number of arguments for 'get' command"
        ):
            command(client, "GET")
        assert client.ping() is True  # errors do not break the connection
    finally:
        client.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_redis_py_asyncio(server: ServerProcess, protocol: int | None) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis(host=server.host, port=server.port, protocol=protocol)
        try:
            keys = [new_key() for _ in range(50)]
            assert await client.ping() is True
            results = await asyncio.gather(*(client.set(key, key.encode()) for key in keys))
            assert results == [True] * len(keys)
            values = await asyncio.gather(*(client.get(key) for key in keys))
            assert values == [key.encode() for key in keys]
            assert await client.delete(*keys) == len(keys)
            assert await client.get(keys[0]) is None
            with pytest.raises(redis.ResponseError, match="unknown command"):
                await client.execute_command("nosuch")  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_redis_py_pipeline(server: ServerProcess, protocol: int | None) -> None:
    client = redis.Redis(host=server.host, port=server.port, protocol=protocol)
    try:
        prefix = new_key()
        pipe = client.pipeline(transaction=False)
        for i in range(2000):
            pipe.set(f"{prefix}:{i}", str(i))
        for i in range(2000):
            pipe.get(f"{prefix}:{i}")
        command(pipe, "nosuch")
        pipe.get(f"{prefix}:7")
        results = pipe.execute(raise_on_error=False)
        assert results[:2000] == [True] * 2000
        assert results[2000:4000] == [str(i).encode() for i in range(2000)]
        assert isinstance(results[4000], redis.ResponseError)
        assert results[4001] == b"7"
        assert client.delete(*[f"{prefix}:{i}" for i in range(2000)]) == 2000
    finally:
        client.close()


def test_pipelined_raw_requests_answered_in_order(server: ServerProcess) -> None:
    key = new_key().encode()
    frames = []
    expected = []
    for i in range(500):
        frames.append(encode_request([b"SET", key, b"%d" % i]))
        expected.append(b"+OK\r\n")
        frames.append(encode_request([b"GET", key]))
        expected.append(b"$%d\r\n%d\r\n" % (len(b"%d" % i), i))
        if i % 100 == 0:
            frames.append(encode_request([b"GET"]))
            expected.append(b"-ERR wrong number of arguments for 'get' command\r\n")
    with server.connect() as sock:
        sock.sendall(b"".join(frames))
        want = b"".join(expected)
        assert read_exactly(sock, len(want)) == want


def test_redis_cli_pipe(server: ServerProcess) -> None:
    # Mass insertion: redis-cli sends the input, then an empty line and an ECHO whose reply
    # tells it every reply has come back.
    key = new_key().encode()
    requests = [encode_request([b"SET", key + b":%d" % i, b"%d" % i]) for i in range(1000)]
    requests.append(encode_request([b"GET", b"no-such-key-" + key]))
    result = subprocess.run(
        ["redis-cli", "-h", server.host, "-p", str(server.port), "--pipe"],
        input=b"".join(requests),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"errors: 0, replies: 1001" in result.stdout
    with server.connect() as sock:
        sock.sendall(encode_request([b"GET", key + b":999"]))
        assert read_exactly(sock, 9) == b"$3\r\n999\r\n"


def test_resp3_after_hello(server: ServerProcess) -> None:
    with server.connect() as sock:
        sock.sendall(encode_request([b"GET", b"no-such-key"]))
        assert read_exactly(sock, 5) == b"$-1\r\n"
        sock.sendall(encode_request([b"HELLO", b"3"]))
        assert read_exactly(sock, 1) == b"%"  # a map
        sock.sendall(encode_request([b"PING"]))
        data = b""
        while not data.endswith(b"+PONG\r\n"):
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        sock.sendall(encode_request([b"GET", b"no-such-key"]))
        assert read_exactly(sock, 3) == b"_\r\n"


# -- redis-benchmark -------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [1, 16])
def test_redis_benchmark(server: ServerProcess, pipeline: int) -> None:
    result = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            server.host,
            "-p",
            str(server.port),
            "-t",
            "set,get",
            "-n",
            "10000",
            "-q",
            "-P",
            str(pipeline),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    final = [line.strip() for line in re.split(r"[\r\n]", output) if "requests per second" in line]
    assert [line.split(":")[0] for line in final] == ["SET", "GET"], output
    assert "error" not in output.lower(), output
    assert "ERR" not in output, output


# -- a client that does not read ---------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_client_that_never_reads_cannot_stall_others(server: ServerProcess) -> None:
    big = new_key().encode()
    with server.connect() as setup:
        setup.sendall(encode_request([b"SET", big, b"x" * 4096]))
        assert read_exactly(setup, 5) == b"+OK\r\n"
    rss_before = rss_bytes(server.proc.pid)

    # 1,500,000 GETs of a 4 KiB value: about 50 MB of requests, more than loopback's socket
    # buffers can hold (Linux lets them grow to 32 + 4 MiB), asking for 6 GB of replies.
    burst = encode_request([b"GET", big]) * 1_500_000
    hog = server.connect()
    hog.settimeout(None)
    sent_everything = threading.Event()
    send_failed: list[BaseException] = []

    def flood() -> None:
        try:
            hog.sendall(burst)
            sent_everything.set()
        except OSError as exc:
            send_failed.append(exc)

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    try:
        with server.connect() as other:
            other.settimeout(10)  # a stalled server fails the read below
            key = new_key().encode()
            for i in range(300):
                other.sendall(
                    encode_request([b"SET", key, b"%d" % i]) + encode_request([b"GET", key])
                )
                want = b"+OK\r\n" + b"$%d\r\n%d\r\n" % (len(b"%d" % i), i)
                assert read_exactly(other, len(want)) == want
        # The server stopped reading the hog's requests instead of queueing its replies.
        assert not sent_everything.is_set()
        assert rss_bytes(server.proc.pid) - rss_before < 200 * 1024 * 1024
    finally:
        hog.shutdown(socket.SHUT_RDWR)
        hog.close()
        sender.join(timeout=10)
    assert not sender.is_alive()
    with server.connect() as after:
        after.sendall(encode_request([b"PING"]))
        assert read_exactly(after, 7) == b"+PONG\r\n"


def test_quit_in_a_pipeline_answers_what_came_before(server: ServerProcess) -> None:
    key = new_key().encode()
    with server.connect() as sock:
        sock.sendall(
            encode_request([b"SET", key, b"1"])
            + encode_request([b"QUIT"])
            + encode_request([b"SET", key, b"2"])
        )
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data == b"+OK\r\n+OK\r\n"
    with server.connect() as sock:
        sock.sendall(encode_request([b"GET", key]))
        assert read_exactly(sock, 7) == b"$1\r\n1\r\n"
