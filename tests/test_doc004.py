"""The document-004 client against the server: its sample session, then 100 of it at once.

:class:`Doc004Client` does on a raw socket exactly what the handed-out C client does: it prints
``Connected to server``; each round it prints ``Enter request: ``, reads a line as ``fgets``
into a 256-byte buffer would, sends the line with its ``\\n`` (no ``\\r``), makes one
``read()`` of at most 255 bytes and prints ``Server replied: %s\\n``; it stops when the reply
starts with ``Goodbye``. The transcript is what its terminal shows, typed input echoed.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable

import pytest

from conftest import ServerProcess

SAMPLE_INPUT = ["put 1 2", "put 1 3", "put 2 3", "get 1", "del 1", "get 1", "del 5", "Bye"]
SAMPLE_TRANSCRIPT = """\
Connected to server
Enter request: put 1 2
Server replied: OK
Enter request: put 1 3
Server replied: Key already exists
Enter request: put 2 3
Server replied: OK
Enter request: get 1
Server replied: 2
Enter request: del 1
Server replied: OK
Enter request: get 1
Server replied: Key not found
Enter request: del 5
Server replied: Key not found
Enter request: Bye
Server replied: Goodbye
"""

FGETS_BUFFER = 256
READ_SIZE = 255


class Doc004Client:
    def __init__(self, server: ServerProcess, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        self.transcript: list[str] = ["Connected to server\n"]
        self.finished = False

    def request(self, line: str) -> str:
        """One round: prompt, the typed line (echoed), one read, the printed reply."""
        assert not self.finished, "the client has already stopped"
        data = line.encode() + b"\n"
        assert len(data) <= FGETS_BUFFER - 1, "fgets would split this line"
        self.transcript.append("Enter request: " + line + "\n")
        self.sock.sendall(data)
        reply = self.sock.recv(READ_SIZE)
        text = reply.decode("utf-8", "replace")
        self.transcript.append(f"Server replied: {text}\n")
        if reply[:7] == b"Goodbye":
            self.finished = True
            self.sock.close()
        return text

    def close(self) -> None:
        self.sock.close()

    @property
    def output(self) -> str:
        return "".join(self.transcript)


def clean(server: ServerProcess, *keys: str) -> None:
    client = Doc004Client(server)
    for key in keys:
        assert client.request(f"del {key}") in ("OK", "Key not found")
    assert client.request("Bye") == "Goodbye"


def test_sample_session(server: ServerProcess) -> None:
    clean(server, "1", "2", "5")
    client = Doc004Client(server)
    for line in SAMPLE_INPUT:
        client.request(line)
    assert client.output.splitlines() == SAMPLE_TRANSCRIPT.splitlines()
    assert client.output == SAMPLE_TRANSCRIPT
    assert client.finished


def test_server_closes_after_goodbye(server: ServerProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"Bye\n")
        assert sock.recv(READ_SIZE) == b"Goodbye"
        assert sock.recv(READ_SIZE) == b""  # closed by the server, nothing more


def test_replies_fit_one_read_and_carry_no_terminator(server: ServerProcess) -> None:
    key = uuid.uuid4().hex
    client = Doc004Client(server)
    value = "v" * 200  # with the command, the longest line fgets leaves whole is 254 chars
    assert client.request(f"put {key} {value}") == "OK"
    assert client.request(f"get {key} {value}") == value
    assert client.request(f"get {key}") == value
    assert client.request(f"put {key} other") == "Key already exists"
    assert client.request("Bye") == "Goodbye"


def run_clients(
    count: int, body: Callable[[int, Doc004Client, threading.Barrier], None], server: ServerProcess
) -> list[Doc004Client]:
    """Run ``body`` for ``count`` clients at once, each in its own thread; re-raise failures."""
    barrier = threading.Barrier(count, timeout=30)
    clients: list[Doc004Client | None] = [None] * count
    errors: list[BaseException] = []

    def main(i: int) -> None:
        try:
            client = clients[i] = Doc004Client(server)
            body(i, client, barrier)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=main, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    if errors:
        raise errors[0]
    done = [client for client in clients if client is not None]
    assert len(done) == count
    return done


CLIENTS = 100


def test_many_clients_see_each_others_writes(server: ServerProcess) -> None:
    run = uuid.uuid4().hex[:8]
    shared = f"shared-{run}"
    seen: dict[int, dict[str, str]] = {}
    put_results: dict[int, str] = {}
    shared_values: dict[int, str] = {}

    def body(i: int, client: Doc004Client, barrier: threading.Barrier) -> None:
        barrier.wait()  # every client is connected
        assert client.request(f"put own-{run}-{i} value of {i}") == "OK"
        put_results[i] = client.request(f"put {shared} from {i}")
        barrier.wait()  # every write is done
        seen[i] = {key: client.request(f"get {key}") for key in keys_to_read}
        shared_values[i] = client.request(f"get {shared}")
        barrier.wait()  # every read is done: now delete your own key
        assert client.request(f"del own-{run}-{i}") == "OK"
        assert client.request("Bye") == "Goodbye"

    keys_to_read = [f"own-{run}-{j}" for j in range(CLIENTS)]
    clients = run_clients(CLIENTS, body, server)

    expected = {f"own-{run}-{j}": f"value of {j}" for j in range(CLIENTS)}
    assert all(seen[i] == expected for i in range(CLIENTS))
    winners = [i for i, result in put_results.items() if result == "OK"]
    assert len(winners) == 1
    assert sorted(put_results.values()) == ["Key already exists"] * (CLIENTS - 1) + ["OK"]
    assert set(shared_values.values()) == {f"from {winners[0]}"}
    for client in clients:
        assert client.finished
        assert client.output.startswith("Connected to server\nEnter request: put own-")
        assert client.output.endswith("Enter request: Bye\nServer replied: Goodbye\n")

    checker = Doc004Client(server)
    assert checker.request(f"get own-{run}-0") == "Key not found"
    assert checker.request(f"del {shared}") == "OK"
    assert checker.request("Bye") == "Goodbye"


@pytest.mark.parametrize("verb", ["set", "put"])
def test_many_clients_racing_on_one_key(server: ServerProcess, verb: str) -> None:
    key = f"race-{uuid.uuid4().hex}"
    results: dict[int, list[str]] = {}

    def body(i: int, client: Doc004Client, barrier: threading.Barrier) -> None:
        barrier.wait()
        results[i] = [client.request(f"{verb} {key} {i}") for _ in range(5)]
        barrier.wait()
        results[i].append(client.request(f"get {key}"))
        client.request("Bye")

    run_clients(CLIENTS, body, server)
    finals = {answers[-1] for answers in results.values()}
    assert len(finals) == 1  # everyone reads the same last write
    (final,) = finals
    assert 0 <= int(final) < CLIENTS
    writes = [answer for answers in results.values() for answer in answers[:-1]]
    if verb == "set":
        assert set(writes) == {"OK"}
    else:
        assert writes.count("OK") == 1
        assert writes.count("Key already exists") == 5 * CLIENTS - 1
