"""Crash a persisting server at random moments and check that no acknowledged write is lost.

Used by ``tests/test_persistence_crash.py`` and by ``scripts/crash-loop`` (which runs many more
rounds). Each round starts ``./server`` on the same directory, checks every write acknowledged
in earlier rounds, writes from a thread (pipelined SETs and DELs, recording what was
acknowledged), and SIGKILLs the server after a random number of acknowledgements.
"""

from __future__ import annotations

import random
import signal
import socket
import threading
from dataclasses import dataclass, field

from conftest import ServerProcess, start_server, wait_for
from kvstore.protocol import ReplyParser, encode_request
from kvstore.protocol.resp_replies import INCOMPLETE


@dataclass
class Model:
    """What the server acknowledged: keys set (with their value) and keys deleted."""

    present: dict[bytes, bytes] = field(default_factory=dict)
    deleted: set[bytes] = field(default_factory=set)
    acked: int = 0
    #: The batch sent and not yet acknowledged: the crash may or may not have applied it.
    inflight: list[list[bytes]] = field(default_factory=list)
    #: A writer thread's unexpected failure, re-raised by the round.
    error: BaseException | None = None


def roundtrip(
    sock: socket.socket, parser: ReplyParser, requests: list[list[bytes]]
) -> list[object]:
    sock.sendall(b"".join(encode_request(request) for request in requests))
    replies: list[object] = []
    while len(replies) < len(requests):
        reply = parser.gets()
        if reply is not INCOMPLETE:
            replies.append(reply)
            continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        parser.feed(chunk)
    return replies


def _writer(server: ServerProcess, model: Model, round_no: int, rng: random.Random) -> None:
    try:
        with server.connect() as sock:
            parser = ReplyParser()
            serial = 0
            while True:
                batch: list[list[bytes]] = []
                for _ in range(rng.randint(1, 8)):
                    serial += 1
                    if model.present and rng.random() < 0.1:
                        victim = rng.choice(list(model.present))
                        batch.append([b"DEL", victim])
                    else:
                        key = b"r%d:%d" % (round_no, serial)
                        batch.append([b"SET", key, b"v%d:%d:%s" % (round_no, serial, key)])
                model.inflight = batch
                replies = roundtrip(sock, parser, batch)
                for request, reply in zip(batch, replies, strict=True):
                    if request[0] == b"SET":
                        assert reply == b"OK", reply
                        model.present[request[1]] = request[2]
                    else:
                        model.present.pop(request[1], None)
                        model.deleted.add(request[1])
                    model.acked += 1
                model.inflight = []
    except (OSError, ConnectionError):
        return  # killed
    except BaseException as exc:
        model.error = exc


def verify(server: ServerProcess, model: Model) -> None:
    """Every acknowledged SET is there with its value; every acknowledged DEL stayed deleted."""
    keys = list(model.present) + sorted(model.deleted)
    with server.connect() as sock:
        parser = ReplyParser()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            replies = roundtrip(sock, parser, [[b"GET", key] for key in chunk])
            for key, reply in zip(chunk, replies, strict=True):
                expected = model.present.get(key)
                assert reply == expected, f"{key!r}: got {reply!r}, acknowledged {expected!r}"


def crash_rounds(
    directory: str, rounds: int, policy: str, seed: int, extra: tuple[str, ...] = ()
) -> Model:
    rng = random.Random(seed)
    model = Model()
    for round_no in range(rounds):
        server = start_server("--dir", directory, "--appendfsync", policy, *extra)
        try:
            verify(server, model)
            target = model.acked + rng.randint(1, 400)
            thread = threading.Thread(
                target=_writer, args=(server, model, round_no, rng), daemon=True
            )
            thread.start()
            wait_for(lambda: model.acked >= target or not thread.is_alive(), 30, "writes")  # noqa: B023
            server.proc.send_signal(signal.SIGKILL)
            server.finish_log()
            thread.join(30)
            assert not thread.is_alive()
            if model.error is not None:
                raise model.error
            assert not any("Traceback" in line for line in server.log), server.log
            for request in model.inflight:  # in doubt: never checked again
                model.present.pop(request[1], None)
                model.deleted.discard(request[1])
            model.inflight = []
        finally:
            server.stop()
    server = start_server("--dir", directory, "--appendfsync", policy, *extra)
    try:
        verify(server, model)
    finally:
        server.stop()
    return model
