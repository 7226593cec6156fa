"""The library's cluster clients (sync and asyncio) and ``./client -c`` against two nodes
sharing the slots: each call goes to the node serving its key, MOVED and ASK are followed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import pytest

import kvstore
from cluster_support import key_in, two_nodes
from conftest import CLIENT, ServerProcess, start_server
from kvstore.client.address import Address
from kvstore.client.calls import Call, raw
from kvstore.client.cluster_core import (
    CLUSTER_SLOTS,
    Pause,
    SlotMap,
    call_slot,
    redirection,
    route,
    route_batch,
    route_with_retries,
)
from kvstore.client.errors import ConnectionError, ResponseError, TimeoutError
from redis_compare import RawConnection


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    with two_nodes(tmp_path_factory.mktemp("pair")) as nodes:
        yield nodes


def _count(node: ServerProcess, keys: list[str]) -> int:
    conn = RawConnection(node.host, node.port)
    try:
        return sum(conn.call("GET", key) is not None for key in keys if not _moved(conn, key))
    finally:
        conn.close()


def _moved(conn: RawConnection, key: str) -> bool:
    reply = conn.call("EXISTS", key)
    return isinstance(reply, tuple) and reply[1].startswith(b"MOVED")


def test_sync_cluster_client(pair: list[ServerProcess]) -> None:
    keys = [f"lib:{index}" for index in range(40)]
    with kvstore.ClusterClient(pair[0].address) as client:
        for key in keys:
            client.set(key, key)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        assert client.ping() is True
        assert client.execute_command("MSET", "{t}a", "1", "{t}b", "2") == b"OK"
        with pytest.raises(kvstore.ResponseError, match="CROSSSLOT"):
            client.execute_command("MGET", "a", "b")
    # Each key is on the node serving its slot, and the two nodes share them.
    on_a, on_b = _count(pair[0], keys), _count(pair[1], keys)
    assert on_a + on_b == len(keys)
    assert on_a > 0
    assert on_b > 0


def test_asyncio_cluster_client(pair: list[ServerProcess]) -> None:
    async def main() -> list[bytes | None]:
        async with kvstore.AsyncClusterClient([pair[1].address, pair[0].address]) as client:
            for index in range(20):
                await client.set(f"alib:{index}", str(index))
            return [await client.get(f"alib:{index}") for index in range(20)]

    assert asyncio.run(main()) == [str(index).encode() for index in range(20)]


def test_a_moved_reply_updates_the_slot_map(pair: list[ServerProcess]) -> None:
    a, b = (Address(node.host, node.port) for node in pair)
    slots = SlotMap([a])
    slots.stale = False  # knows nothing: every call goes to the first node
    high = key_in(8192, 16383)
    call = Call((b"GET", high), raw)
    routing = route(slots, call)
    assert next(routing) == (a, [call])
    slot = call_slot(call)
    assert slot is not None
    moved = ResponseError(f"MOVED {slot} {b}")
    assert routing.send([moved]) == (b, [call])
    with pytest.raises(StopIteration) as done:
        routing.send([b"v"])
    assert done.value.value == b"v"
    assert slots.node_for(slot) == b
    assert slots.stale  # a MOVED means the map is reloaded before the next call


def test_an_ask_reply_sends_asking_first() -> None:
    a, b = Address("127.0.0.1", 7000), Address("127.0.0.1", 7001)
    slots = SlotMap([a])
    slots.stale = False
    call = Call((b"GET", b"k"), raw)
    routing = route(slots, call)
    next(routing)
    step = routing.send([ResponseError(f"ASK 7 {b}")])
    assert not isinstance(step, Pause)
    address, calls = step
    assert address == b
    assert [c.args for c in calls] == [(b"ASKING",), (b"GET", b"k")]
    assert slots.node_for(7) == a  # ASK changes nothing for later calls
    assert redirection(ResponseError("MOVED x y")) is None
    assert redirection(ResponseError("MOVED 12 [::1]:7000")) == ("MOVED", 12, Address("::1", 7000))


def _client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLIENT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_follows_moved(pair: list[ServerProcess], tmp_path: Path) -> None:
    high = key_in(8192, 16383, "cli").decode()
    assert _client("-c", pair[0].address, "set", high, "far").returncode == 0
    done = _client("-c", pair[0].address, "get", high)
    assert (done.returncode, done.stdout) == (0, "far\n")
    plain = _client(pair[0].address, "get", high)
    assert plain.returncode == 1
    assert "MOVED" in plain.stderr
    refused = _client("-c", pair[0].address)
    assert refused.returncode == 2
    assert "-c runs one command" in refused.stderr


class _RecordedPauses(Sequence[float]):
    """Many short pauses that tell when the first one was taken (a call failed once)."""

    def __init__(self) -> None:
        self.taken = threading.Event()

    def __len__(self) -> int:
        return 400

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            raise TypeError("not sliced")
        if index >= len(self):
            raise IndexError(index)
        self.taken.set()
        return 0.05


def test_retries_carry_a_call_over_a_node_restart(tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = start_server("--cluster-enabled", "--dir", str(data))
    port = node.port
    pauses = _RecordedPauses()
    with kvstore.ClusterClient(node.address, retry_pauses=pauses) as client:
        client.set("survivor", "kept")
        node.stop()
        answers: list[bytes | None] = []
        reader = threading.Thread(target=lambda: answers.append(client.get("survivor")))
        reader.start()
        assert pauses.taken.wait(30), "the call never failed while the node was down"
        restarted = start_server("--cluster-enabled", "--dir", str(data), port=port)
        try:
            reader.join(60)
            assert answers == [b"kept"]
        finally:
            restarted.stop()


def test_a_down_cluster_is_retried_then_reported() -> None:
    a = Address("127.0.0.1", 7000)
    slots = SlotMap([a])
    slots.stale = False
    call = Call((b"SET", b"k", b"v"), raw)
    routing = route_with_retries(slots, call, pauses=(0.5, 1.0))
    assert next(routing) == (a, [call])
    down = ResponseError("CLUSTERDOWN The cluster is down and only accepts read commands")
    assert routing.send([down]) == Pause(0.5)
    assert slots.stale
    assert next(routing) == (a, [CLUSTER_SLOTS])  # the map is reloaded first
    assert routing.throw(ConnectionError("refused")) == Pause(1.0)
    next(routing)
    routing.send([[[0, 16383, [b"127.0.0.1", 7000, b"x" * 40]]]])  # map reloaded
    with pytest.raises(ResponseError, match="CLUSTERDOWN"):
        routing.send([down])  # no pause left


def test_errors_a_failover_does_not_mend_are_not_retried() -> None:
    slots = SlotMap([Address("127.0.0.1", 7000)])
    slots.stale = False
    routing = route_with_retries(slots, Call((b"INCR", b"k"), raw))
    next(routing)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        routing.send([ResponseError("WRONGTYPE Operation against a key holding the wrong kind")])


def test_a_pipeline_spans_both_nodes_in_order(pair: list[ServerProcess]) -> None:
    keys = [f"pipe:{index}" for index in range(40)]
    with kvstore.ClusterClient(pair[0].address) as client:
        with client.pipeline() as pipe:
            for index, key in enumerate(keys):
                pipe.set(key, str(index))
            pipe.execute_command("APPEND", "pipe:0:text", "x").execute_command("INCR", keys[3])
            assert pipe.execute() == [True] * 40 + [1, 4]
        pipe = client.pipeline()
        for key in keys:
            pipe.get(key)
        pipe.execute_command("INCR", "pipe:0:text")
        results = pipe.execute(raise_on_error=False)
        expected = [str(index).encode() for index in range(40)]
        expected[3] = b"4"  # incremented above
        assert results[:40] == expected
        assert isinstance(results[40], kvstore.ResponseError)
        assert results[40].message == "ERR value is not an integer or out of range"
        assert len(client.pipeline()) == 0
    on_each = [_count(node, keys) for node in pair]
    assert sum(on_each) == 40
    assert all(on_each)  # both nodes served part of it


def test_an_asyncio_pipeline(pair: list[ServerProcess]) -> None:
    async def main() -> list[object]:
        async with kvstore.AsyncClusterClient(pair[1].address) as client:
            pipe = client.pipeline()
            for index in range(10):
                pipe.set(f"apipe:{index}", index)
            await pipe.execute()
            for index in range(10):
                pipe.get(f"apipe:{index}")
            return await pipe.execute()

    assert asyncio.run(main()) == [str(index).encode() for index in range(10)]


def test_a_redirected_call_in_a_batch_is_sent_again_alone() -> None:
    a, b = Address("127.0.0.1", 7000), Address("127.0.0.1", 7001)
    slots = SlotMap([a])
    slots.stale = False
    calls = [Call((b"GET", b"k1"), raw), Call((b"GET", b"k2"), raw), Call((b"GET", b"k3"), raw)]
    routing = route_batch(slots, calls)
    assert next(routing) == (a, calls)  # one round trip for the lot
    slot = call_slot(calls[1])
    moved = ResponseError(f"MOVED {slot} {b}")
    assert routing.send([b"1", moved, ResponseError("WRONGTYPE no")]) == (a, [CLUSTER_SLOTS])
    table = [[0, 16383, [b"127.0.0.1", 7000, b"x" * 40]]]
    assert routing.send([table]) == (a, [calls[1]])  # reloaded map: still a
    assert routing.send([ResponseError(f"MOVED {slot} {b}")]) == (b, [calls[1]])
    with pytest.raises(StopIteration) as done:
        routing.send([b"2"])
    first, second, third = done.value.value
    assert (first, second) == (b"1", b"2")
    assert isinstance(third, ResponseError)
    assert third.code == "WRONGTYPE"


def test_a_seed_that_does_not_answer_in_time_is_passed_over() -> None:
    a, b = Address("127.0.0.1", 7000), Address("127.0.0.1", 7001)
    slots = SlotMap([a, b])
    routing = route_with_retries(slots, Call((b"GET", b"k"), raw), pauses=())
    assert next(routing) == (a, [CLUSTER_SLOTS])
    assert routing.throw(TimeoutError("no answer")) == (b, [CLUSTER_SLOTS])
    table = [[0, 16383, [b"127.0.0.1", 7001, b"x" * 40]]]
    assert routing.send([table]) == (b, [Call((b"GET", b"k"), raw)])


def test_a_stopped_node_is_timed_out_and_its_call_retried(tmp_path: Path) -> None:
    node = start_server("--cluster-enabled", "--dir", str(tmp_path / "node"))
    pauses = _RecordedPauses()
    try:
        with kvstore.ClusterClient(node.address, socket_timeout=0.2, retry_pauses=pauses) as client:
            client.set("paused", "v")
            node.proc.send_signal(signal.SIGSTOP)
            answers: list[bytes | None] = []
            reader = threading.Thread(target=lambda: answers.append(client.get("paused")))
            reader.start()
            assert pauses.taken.wait(30), "the call never timed out while the node was stopped"
            node.proc.send_signal(signal.SIGCONT)
            reader.join(60)
            assert answers == [b"v"]
    finally:
        node.proc.send_signal(signal.SIGCONT)
        node.stop()
