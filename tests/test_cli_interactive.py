"""The interactive ``./client``: the assignment's session, through a pipe and a terminal.

The client speaks RESP to the server and shows replies in the text protocol's words. Each test
waits for the prompt (with a deadline) before typing, as a person would.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import kvstore
from conftest import CLIENT, ServerProcess
from test_client_support import run_client

PROMPT = b"Enter request: "

#: The assignment's session: (typed line, reply line).
SESSION = [
    (b"put 1 2", b"Server replied: OK"),
    (b"put 1 3", b"Server replied: Key already exists"),
    (b"put 2 3", b"Server replied: OK"),
    (b"get 1", b"Server replied: 2"),
    (b"del 1", b"Server replied: OK"),
    (b"get 1", b"Server replied: Key not found"),
    (b"del 5", b"Server replied: Key not found"),
    (b"Bye", b"Server replied: Goodbye"),
]

#: The transcript as the assignment shows it: what a terminal displays.
TRANSCRIPT = b"".join(
    [b"Connected to server\n"]
    + [PROMPT + typed + b"\n" + reply + b"\n" for typed, reply in SESSION]
)


@pytest.fixture
def fresh_keys(server: ServerProcess) -> ServerProcess:
    """The server, without the keys the session uses (the module's servers are shared)."""
    with kvstore.Client(server.address) as client:
        client.delete("1", "2", "5")
    return server


class Reader:
    """Collects a process's output from a file descriptor, waiting with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""
        self.closed = False
        self.prompts = 0  # prompts already waited for

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while not done(self.data) and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; output so far: {self.data!r}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: a pseudo-terminal whose other side is closed
                chunk = b""
            if chunk:
                self.data += chunk
            else:
                self.closed = True
        return self.data

    def read_to_end(self, timeout: float = 15) -> bytes:
        return self.read_until(lambda _: False, timeout)

    def read_prompt(self, timeout: float = 15) -> None:
        """Wait for a prompt not waited for before."""
        self.read_until(lambda data: data.count(PROMPT) > self.prompts, timeout)
        self.prompts += 1
        assert self.data.count(PROMPT) == self.prompts, self.data
        assert self.data.endswith(PROMPT), self.data


@pytest.fixture
def piped_client() -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Reader]]]:
    """Start ``./client`` with pipes for stdin and stdout; stopped at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> tuple[subprocess.Popen[bytes], Reader]:
        proc = subprocess.Popen(
            [sys.executable, str(CLIENT), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        assert proc.stdout is not None
        return proc, Reader(proc.stdout.fileno())

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_session_through_a_pipe(fresh_keys: ServerProcess) -> None:
    """From a pipe nothing echoes the input: the output is the prompts and the replies."""
    typed = b"".join(line + b"\n" for line, _ in SESSION)
    result = run_client("127.0.0.1", str(fresh_keys.port), stdin=typed)
    expected = b"Connected to server\n" + b"".join(PROMPT + reply + b"\n" for _, reply in SESSION)
    assert result.stdout == expected
    assert result.stderr == b""
    assert result.returncode == 0


def test_session_under_a_terminal(fresh_keys: ServerProcess, tmp_path: Path) -> None:
    """Under a pseudo-terminal the echoed input completes the transcript, line for line."""
    controller, terminal = pty.openpty()
    # A "dumb" terminal: readline then emits no control sequences between the lines.
    env = {**os.environ, "TERM": "dumb", "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, str(CLIENT), "127.0.0.1", str(fresh_keys.port)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    try:
        reader = Reader(controller)
        for line, _ in SESSION:
            reader.read_prompt()
            os.write(controller, line + b"\n")
        output = reader.read_to_end()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    # The terminal writes each line end as "\r\n".
    assert output.replace(b"\r\n", b"\n") == TRANSCRIPT
    # readline kept the history in the (temporary) home directory.
    history = (tmp_path / ".kvstore_history").read_bytes()
    assert b"put 1 2" in history
    assert b"del 5" in history


def test_node_alone_opens_a_session(fresh_keys: ServerProcess) -> None:
    result = run_client(fresh_keys.address, stdin=b"set 1 a value with spaces\nget 1\n")
    assert result.stdout == (
        b"Connected to server\n"
        + PROMPT
        + b"Server replied: OK\n"
        + PROMPT
        + b"Server replied: a value with spaces\n"
        + PROMPT
        + b"\n"  # end of input: the prompt's line is ended
    )
    assert result.returncode == 0


def test_other_commands_and_errors_render_as_text(fresh_keys: ServerProcess) -> None:
    typed = b"put 1 x\nexists 1 2\nping\nconfig get appendonly\nget 2\nput 1\n\nget\r\n"
    result = run_client(fresh_keys.address, stdin=typed)
    replies = result.stdout.split(PROMPT)[1:]
    assert replies == [
        b"Server replied: OK\n",
        b"Server replied: 1\n",
        b"Server replied: PONG\n",
        b"Server replied: appendonly\nyes\n",
        b"Server replied: Key not found\n",
        b"Server replied: error: wrong number of arguments for 'put' command\n",
        b"Server replied: error: empty request\n",
        b"Server replied: error: wrong number of arguments for 'get' command\n",
        b"\n",
    ]
    assert result.returncode == 0


def test_error_replies_from_the_server_render_as_errors(fresh_keys: ServerProcess) -> None:
    result = run_client(fresh_keys.address, stdin=b"set 1 v ex\nnosuch a\n")
    replies = result.stdout.split(PROMPT)[1:]
    assert replies[0] == b"Server replied: OK\n"  # "v ex" is the value: the rest of the line
    assert replies[1].startswith(b"Server replied: error: unknown command 'nosuch'")
    assert result.returncode == 0


def test_malformed_lines_do_not_reach_the_server() -> None:
    """A listener that never answers: any request sent would hang the session."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, str(CLIENT), "--timeout", "10", "127.0.0.1", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        peer, _ = listener.accept()
        with peer:
            stdout, stderr = proc.communicate(b"get\n\ndel a b\nput k\n", timeout=30)
            peer.settimeout(10)
            received = peer.recv(100)  # b"" once the client has closed
    assert received == b""
    assert stdout.split(PROMPT)[1:] == [
        b"Server replied: error: wrong number of arguments for 'get' command\n",
        b"Server replied: error: empty request\n",
        b"Server replied: error: wrong number of arguments for 'del' command\n",
        b"Server replied: error: wrong number of arguments for 'put' command\n",
        b"\n",
    ]
    assert (stderr, proc.returncode) == (b"", 0)


def test_server_gone_mid_session(
    server_factory: Callable[..., ServerProcess],
    piped_client: Callable[..., tuple[subprocess.Popen[bytes], Reader]],
) -> None:
    server = server_factory()
    proc, reader = piped_client("127.0.0.1", str(server.port))
    assert proc.stdin is not None
    assert proc.stderr is not None
    reader.read_prompt()
    proc.stdin.write(b"put a 1\n")
    proc.stdin.flush()
    reader.read_until(lambda data: data.endswith(b"Server replied: OK\n" + PROMPT))
    assert server.stop() == 0
    proc.stdin.write(b"get a\n")
    proc.stdin.close()
    assert proc.wait(timeout=15) == 2
    stderr = proc.stderr.read()
    assert re.fullmatch(rb"error: connection to 127\.0\.0\.1:\d+ lost \([^\n]+\)\n", stderr)
    assert b"Traceback" not in reader.read_to_end()


def test_ctrl_c_exits_130_quietly(
    fast_server: ServerProcess,
    piped_client: Callable[..., tuple[subprocess.Popen[bytes], Reader]],
) -> None:
    proc, reader = piped_client(fast_server.address)
    assert proc.stderr is not None
    reader.read_prompt()  # the client now waits for a line
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 130
    assert proc.stderr.read() == b""
