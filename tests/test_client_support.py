"""Helpers shared by the client library and CLI tests (this module has no tests of its own).

A real ``redis-server`` is the reference peer: the CLI's pass-through output is compared with
what ``redis-cli`` prints against it, and the library's authentication is checked on it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import kvstore
from conftest import (
    CLIENT,
    START_TIMEOUT,
    AddressInUseError,
    free_port,
    retry_bind,
    stop_process,
    wait_for,
)

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


@dataclass
class RedisServer:
    proc: subprocess.Popen[bytes]
    port: int
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)


def start_redis_server(workdir: Path, *args: str) -> RedisServer:
    """A real redis-server on a free loopback port, persisting nothing; skip if absent. Started
    again on another port if another process took the first one before it bound it."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    return retry_bind(lambda: _start_redis_server(REDIS_SERVER, workdir, args))


def _start_redis_server(program: str, workdir: Path, args: Sequence[str]) -> RedisServer:
    port = free_port()
    # Its log says when it listens, or why it could not: a connection that succeeds could be
    # to whatever process took the port.
    logfile = workdir / f"redis-{port}.log"
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [program, *options, "--dir", str(workdir), "--logfile", str(logfile), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(proc, port)

    def log() -> str:
        return logfile.read_text(errors="replace") if logfile.exists() else ""

    try:
        wait_for(
            lambda: proc.poll() is not None or "Ready to accept connections" in log(),
            START_TIMEOUT,
            "redis-server",
        )
    except AssertionError:
        server.stop()
        raise
    if proc.poll() is not None:
        if "Address already in use" in log():
            raise AddressInUseError(log(), port)
        raise AssertionError(f"redis-server exited with {proc.returncode}:\n{log()}")
    return server


def run_client(
    *args: str | bytes,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``./client`` to completion with ``args``, capturing its output as bytes."""
    return subprocess.run(
        [sys.executable, str(CLIENT), *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )


def run_redis_cli(port: int, args: Sequence[str | bytes]) -> subprocess.CompletedProcess[bytes]:
    """Run the real ``redis-cli`` with its output on a pipe, as ``./client``'s reference."""
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed")
    return subprocess.run(
        [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


def assert_prints_like_redis_cli(
    kvstore_address: str,
    redis: RedisServer,
    setup: Sequence[Sequence[str]],
    command: Sequence[str],
) -> None:
    """Run ``setup`` on both servers, then ``command`` through ``./client`` against kvstore and
    ``redis-cli`` against Redis: the same output, byte for byte, and the same exit status."""
    for address in (kvstore_address, redis.address):
        with kvstore.Client(address) as client:
            for words in setup:
                client.execute_command(*words)
    expected = run_redis_cli(redis.port, command)
    result = run_client(kvstore_address, *command)
    assert expected.stderr == b""
    assert (result.stdout, result.stderr, result.returncode) == (
        expected.stdout,
        b"",
        expected.returncode,
    )
