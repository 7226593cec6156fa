"""Which build runs (docs/builds.md): chosen once at import, forced pure by ``--pure``,
``KVSTORE_PURE`` or the file's ``pure = true``, and named by the start-up line and INFO."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from conftest import ROOT, ServerProcess, read_to_eof
from kvstore import __version__, build
from kvstore.protocol import hiredis_available

#: The build a server started by these tests runs unless forced pure: this process's (the
#: tests run with the environment the servers inherit, KVSTORE_PURE included).
DEFAULT = build.BUILD
needs_compiled = pytest.mark.skipif(
    not build.COMPILED, reason=f"the compiled build is not in use here ({build.WHY_PURE})"
)


def _chosen(env: dict[str, str]) -> str:
    """The module kvstore.protocol's request parser comes from, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", "import kvstore.protocol as p; print(p.RequestParser.__module__)"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()


def _info(server: ServerProcess) -> dict[str, str]:
    with redis.Redis(port=server.port, decode_responses=True) as client:
        fields = client.info("server")
    return {key: str(value) for key, value in fields.items() if key.startswith("kvstore_")}


def test_the_pure_build_is_forced_by_the_environment() -> None:
    assert _chosen({"KVSTORE_PURE": "1"}) == "kvstore.protocol.resp_requests"
    assert _chosen({"KVSTORE_PURE": "yes"}) == "kvstore.protocol.resp_requests"


@needs_compiled
def test_the_compiled_build_is_chosen_when_built() -> None:
    assert _chosen({"KVSTORE_PURE": "0"}) == "kvstore._speedups.resp_requests"
    assert _chosen({"KVSTORE_PURE": ""}) == "kvstore._speedups.resp_requests"


def test_banner_and_info_name_the_build_loop_and_parser(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory("--event-loop", "asyncio", "--parser", "auto")
    parser = "compiled" if build.COMPILED else ("hiredis" if hiredis_available() else "python")
    assert f"(build: {DEFAULT}, event loop: asyncio, parser: {parser}," in "\n".join(server.log)
    assert _info(server) == {
        "kvstore_version": __version__,
        "kvstore_build": DEFAULT,
        "kvstore_event_loop": "asyncio",
        "kvstore_parser": parser,
    }


@pytest.mark.parametrize(
    ("how", "args", "env"),
    [
        ("flag", ("--pure",), {}),
        ("environment", (), {"KVSTORE_PURE": "1"}),
        ("file", ("--config", "{config}"), {}),
    ],
)
def test_the_pure_build_is_forced(
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
    how: str,
    args: tuple[str, ...],
    env: dict[str, str],
) -> None:
    config = tmp_path / "kvstore.toml"
    config.write_text("pure = true\n")
    server = server_factory(
        "--parser", "python", *(arg.format(config=config) for arg in args), env=env
    )
    assert "(build: pure, event loop: " in "\n".join(server.log), how
    info = _info(server)
    assert (info["kvstore_build"], info["kvstore_parser"]) == ("pure", "python")
    with redis.Redis(port=server.port) as client:  # and it serves
        assert client.set("k", "v")
        assert client.get("k") == b"v"


@needs_compiled
def test_the_compiled_parser_serves_what_the_pure_one_does(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """The same bytes to a compiled and a pure server: the same replies, a protocol error
    included (the parsers themselves are compared byte for byte in
    test_compiled_differential.py)."""
    stream = (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n"
    )
    replies = []
    for extra in ((), ("--pure",)):
        server = server_factory("--parser", "python", *extra)
        with server.connect() as sock:
            sock.sendall(stream)
            replies.append(read_to_eof(sock))
    assert replies[0] == replies[1]
    assert replies[0].startswith(b"+OK\r\n$5\r\nhello\r\n-ERR Protocol error")
