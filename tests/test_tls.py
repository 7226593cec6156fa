"""TLS: the server's TLS port with both protocols, kvstore's clients, ``redis-cli --tls`` and
redis-py over it, client certificates, and the plain port turned off.

A CA, a server certificate (for 127.0.0.1, ::1 and localhost), a client certificate and an
untrusted CA are made with the ``openssl`` command when the module starts.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

import kvstore
from conftest import (
    SERVER,
    ServerProcess,
    closed_port,
    free_port,
    read_exactly,
    retry_bind,
    start_server,
)
from test_client_support import REDIS_CLI, run_client

OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # trusted by nobody here


def _openssl(*args: str | Path, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60)


def _new_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=kvstore test {name}",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _new_leaf(directory: Path, name: str, ca: tuple[Path, Path], extension: str) -> Path:
    key, request, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", request, "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    (directory / f"{name}.ext").write_text(extension + "\n")
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", directory / f"{name}.ext",
        cwd=directory,
    )  # fmt: skip
    return cert


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed")
    directory = tmp_path_factory.mktemp("tls")
    ca = _new_ca(directory, "ca")
    other_ca, _ = _new_ca(directory, "other-ca")
    server_cert = _new_leaf(
        directory, "server", ca, "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
    )
    client_cert = _new_leaf(directory, "client", ca, "extendedKeyUsage=clientAuth")
    return Certificates(
        ca[0],
        server_cert,
        directory / "server.key",
        client_cert,
        directory / "client.key",
        other_ca,
    )


@dataclass
class TLSServer:
    process: ServerProcess
    tls_port: int

    @property
    def tls_address(self) -> str:
        return f"127.0.0.1:{self.tls_port}"


def start_tls_server(certs: Certificates, *args: str, port: int | None = None) -> TLSServer:
    def start() -> TLSServer:
        tls_port = free_port()
        process = start_server(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(certs.server_cert),
            "--tls-key-file", str(certs.server_key),
            *args,
            port=port,
        )  # fmt: skip
        return TLSServer(process, tls_port)

    return retry_bind(start)


@pytest.fixture(scope="module")
def tls_server(certs: Certificates) -> Iterator[TLSServer]:
    server = start_tls_server(certs)
    yield server
    server.process.stop()


@pytest.fixture(scope="module")
def mutual_server(certs: Certificates) -> Iterator[TLSServer]:
    """A TLS server that requires a client certificate signed by the test CA."""
    server = start_tls_server(certs, "--tls-ca-cert-file", str(certs.ca))
    yield server
    server.process.stop()


def tls_socket(certs: Certificates, port: int, *, client_cert: bool = False) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if client_cert:
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock, server_hostname="127.0.0.1")


# -- the server ---------------------------------------------------------------------------------


def test_banner_names_the_tls_port(tls_server: TLSServer) -> None:
    log = "\n".join(tls_server.process.log)
    assert f"TLS on {tls_server.tls_address}" in log
    assert f"listening on 127.0.0.1:{tls_server.process.port}; TLS on" in log


def test_both_protocols_over_tls(certs: Certificates, tls_server: TLSServer) -> None:
    with tls_socket(certs, tls_server.tls_port) as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\ntls\r\n$5\r\nvalue\r\n")
        assert read_exactly(sock, 5) == b"+OK\r\n"
    with tls_socket(certs, tls_server.tls_port) as sock:
        sock.sendall(b"get tls\r\n")
        assert read_exactly(sock, 7) == b"value\r\n"
    # The plain port serves the same table.
    with tls_server.process.connect() as sock:
        sock.sendall(b"get tls\r\n")
        assert read_exactly(sock, 7) == b"value\r\n"


def test_plain_client_on_the_tls_port_is_not_served(tls_server: TLSServer) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as sock:
        sock.sendall(b"ping\r\n")
        sock.settimeout(10)
        try:
            received = sock.recv(100)
        except ConnectionResetError:
            received = b""
        assert b"PONG" not in received


def test_plain_port_off(certs: Certificates) -> None:
    # The port the plain listener would have had is held: the server would fail to bind it.
    with closed_port() as plain:
        server = start_tls_server(certs, "--port", "0", port=plain)
    try:
        log = "\n".join(server.process.log)
        assert f"listening on TLS on {server.tls_address} (" in log
        with kvstore.Client(server.tls_address, tls=True, ca_certs=str(certs.ca)) as client:
            assert client.ping()
    finally:
        server.process.stop()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tls-port", "6390"], "--tls-port needs --tls-cert-file and --tls-key-file"),
        (["--port", "0"], "nothing to listen on"),
        (
            ["--tls-port", "6390", "--tls-cert-file", "/nonexistent.crt"],
            "--tls-port needs --tls-cert-file and --tls-key-file",
        ),
        (
            [
                "--tls-port", "6390",
                "--tls-cert-file", "/nonexistent.crt",
                "--tls-key-file", "/nonexistent.key",
            ],
            "cannot load the TLS certificate /nonexistent.crt",
        ),
    ],
)  # fmt: skip
def test_bad_tls_options_stop_the_server_with_one_line(argv: list[str], message: str) -> None:
    with closed_port() as port:  # held: the server stops before it binds a port
        result = subprocess.run(
            [sys.executable, str(SERVER), "--port", str(port), *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert message in lines[0]


# -- kvstore's clients --------------------------------------------------------------------------


def test_client_over_tls(certs: Certificates, tls_server: TLSServer) -> None:
    with kvstore.Client(tls_server.tls_address, tls=True, ca_certs=str(certs.ca)) as client:
        client.set("client-tls", "v")
        assert client.get("client-tls") == b"v"
        info = client.execute_command("CLIENT", "INFO")
        assert b"laddr=" + tls_server.tls_address.encode() in info
    context = ssl.create_default_context(cafile=str(certs.ca))
    with kvstore.Client(tls_server.tls_address, tls=context) as client:
        assert client.get("client-tls") == b"v"


def test_async_client_over_tls(certs: Certificates, tls_server: TLSServer) -> None:
    async def scenario() -> None:
        async with kvstore.AsyncClient(
            tls_server.tls_address, tls=True, ca_certs=str(certs.ca)
        ) as client:
            await client.set("async-tls", "v")
            assert await client.get("async-tls") == b"v"

    asyncio.run(scenario())


def test_untrusted_server_certificate_is_one_clear_error(
    certs: Certificates, tls_server: TLSServer
) -> None:
    client = kvstore.Client(tls_server.tls_address, ca_certs=str(certs.other_ca))
    with pytest.raises(kvstore.ConnectionError) as failure:
        client.connect()
    assert str(failure.value) == (
        f"cannot connect to {tls_server.tls_address} (TLS certificate verification failed: "
        "unable to get local issuer certificate)"
    )


def test_client_certificate_required(certs: Certificates, mutual_server: TLSServer) -> None:
    with kvstore.Client(
        mutual_server.tls_address,
        ca_certs=str(certs.ca),
        certfile=str(certs.client_cert),
        keyfile=str(certs.client_key),
    ) as client:
        assert client.ping()
    client = kvstore.Client(mutual_server.tls_address, ca_certs=str(certs.ca))
    with pytest.raises(kvstore.ConnectionError, match="wants a client certificate"):
        client.ping()
    client.close()


def test_bad_certificate_files_are_refused_at_once(certs: Certificates) -> None:
    with pytest.raises(ValueError, match="cannot load the CA certificates /nonexistent"):
        kvstore.Client("127.0.0.1:1", tls=True, ca_certs="/nonexistent")
    with pytest.raises(ValueError, match="needs its certificate file"):
        kvstore.Client("127.0.0.1:1", keyfile=str(certs.client_key))


def test_cli_over_tls(certs: Certificates, tls_server: TLSServer) -> None:
    node = tls_server.tls_address
    cacert = ["--tls", "--cacert", str(certs.ca)]
    assert run_client(*cacert, node, "set", "cli-tls", "v").returncode == 0
    result = run_client(*cacert, node, "get", "cli-tls")
    assert (result.stdout, result.returncode) == (b"v\n", 0)
    session = run_client(*cacert, node, stdin=b"get cli-tls\nBye\n")
    assert b"Server replied: v\n" in session.stdout
    untrusted = run_client("--tls", node, "get", "cli-tls")  # the system's CAs do not know it
    assert untrusted.returncode == 2
    assert (
        untrusted.stderr
        == (
            f"error: cannot connect to {node} (TLS certificate verification failed: "
            "unable to get local issuer certificate)\n"
        ).encode()
    )


def test_cli_client_certificate(certs: Certificates, mutual_server: TLSServer) -> None:
    node = mutual_server.tls_address
    base = ["--cacert", str(certs.ca)]
    client_cert = ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    result = run_client(*base, *client_cert, node, "ping")
    assert (result.stdout, result.returncode) == (b"PONG\n", 0)
    missing = run_client(*base, node, "ping")
    assert missing.returncode == 2
    assert missing.stderr.count(b"\n") == 1
    assert b"wants a client certificate" in missing.stderr
    bad_file = run_client("--cacert", "/nonexistent", node, "ping")
    assert bad_file.returncode == 2
    assert bad_file.stderr.startswith(b"error: cannot load the CA certificates /nonexistent")


# -- other clients ------------------------------------------------------------------------------


def redis_cli_tls(certs: Certificates, port: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed")
    help_text = subprocess.run(
        [REDIS_CLI, "--help"], capture_output=True, timeout=30, check=False
    ).stdout
    if b"--tls" not in help_text:
        pytest.skip("this redis-cli was built without TLS")
    return subprocess.run(
        [REDIS_CLI, "--tls", "--cacert", str(certs.ca), "-h", "127.0.0.1", "-p", str(port), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_redis_cli_over_tls(certs: Certificates, tls_server: TLSServer) -> None:
    assert redis_cli_tls(certs, tls_server.tls_port, "set", "redis-cli-tls", "v").stdout == b"OK\n"
    assert redis_cli_tls(certs, tls_server.tls_port, "get", "redis-cli-tls").stdout == b"v\n"


def test_redis_cli_with_a_client_certificate(certs: Certificates, mutual_server: TLSServer) -> None:
    client_cert = ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    result = redis_cli_tls(certs, mutual_server.tls_port, *client_cert, "ping")
    assert result.stdout == b"PONG\n"
    refused = redis_cli_tls(certs, mutual_server.tls_port, "ping")
    assert b"PONG" not in refused.stdout


def test_redis_py_over_tls(certs: Certificates, tls_server: TLSServer) -> None:
    client = redis.Redis(
        host="127.0.0.1", port=tls_server.tls_port, ssl=True, ssl_ca_certs=str(certs.ca)
    )
    try:
        assert client.set("redis-py-tls", "v")
        assert client.get("redis-py-tls") == b"v"
    finally:
        client.close()


def test_redis_py_with_a_client_certificate(certs: Certificates, mutual_server: TLSServer) -> None:
    def connect(**extra: str) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=mutual_server.tls_port,
            ssl=True,
            ssl_ca_certs=str(certs.ca),
            **extra,  # type: ignore[arg-type]
        )

    client = connect(ssl_certfile=str(certs.client_cert), ssl_keyfile=str(certs.client_key))
    try:
        assert client.ping()
    finally:
        client.close()
    anonymous = connect()
    try:
        with pytest.raises(redis.ConnectionError):
            anonymous.ping()
    finally:
        anonymous.close()


def test_tls_with_a_password(
    certs: Certificates, server_factory: Callable[..., ServerProcess]
) -> None:
    def start() -> int:
        tls_port = free_port()
        server_factory(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(certs.server_cert),
            "--tls-key-file", str(certs.server_key),
            "--requirepass", "pw",
        )  # fmt: skip
        return tls_port

    address = f"127.0.0.1:{retry_bind(start)}"
    with kvstore.Client(address, tls=True, ca_certs=str(certs.ca), password="pw") as client:
        assert client.ping()
    with pytest.raises(kvstore.AuthenticationError):
        kvstore.Client(address, tls=True, ca_certs=str(certs.ca), password="no").connect()


def test_a_key_that_does_not_match_stops_the_server_with_one_line(certs: Certificates) -> None:
    with closed_port() as port, closed_port() as tls_port:  # held: never bound
        result = subprocess.run(
            [
                sys.executable, str(SERVER), "--port", str(port),
                "--tls-port", str(tls_port),
                "--tls-cert-file", str(certs.server_cert),
                "--tls-key-file", str(certs.client_key),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"kvstore-server: error: cannot load the TLS certificate {certs.server_cert} with the "
        f"key {certs.client_key}: key values mismatch"
    ]
