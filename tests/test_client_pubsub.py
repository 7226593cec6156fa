"""The library's subscriptions, sync and asyncio, against kvstore and a real redis-server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import kvstore
from conftest import ServerProcess, wait_for
from kvstore.client import Message
from test_client_support import start_redis_server


@pytest.fixture(params=["kvstore", "redis"])
def address(
    request: pytest.FixtureRequest, fast_server: ServerProcess, tmp_path: Path
) -> Iterator[str]:
    if request.param == "kvstore":
        yield fast_server.address
        return
    reference = start_redis_server(tmp_path)
    try:
        yield reference.address
    finally:
        reference.stop()


def test_subscribe_iterate_and_close(address: str) -> None:
    with kvstore.Client(address) as client:
        subscription = client.subscribe("news", "sport")
        wait_for(lambda: client.publish("news", "first") == 1, 10, "the subscription")
        assert subscription.get_message(timeout=10) == Message("message", b"news", None, b"first")
        subscription.psubscribe("user:*")
        wait_for(lambda: client.publish("user:1", "joined") == 1, 10, "the pattern")
        assert subscription.get_message(timeout=10) == Message(
            "pmessage", b"user:1", b"user:*", b"joined"
        )
        assert subscription.get_message(timeout=0.05) is None  # nothing more
        client.publish("sport", "a")
        client.publish("sport", "b")
        got = []
        for message in subscription:
            got.append(message.data)
            if len(got) == 2:
                break
        assert got == [b"a", b"b"]
        subscription.unsubscribe("news")
        wait_for(lambda: client.publish("news", "x") == 0, 10, "the unsubscription")
        # Closing from another thread ends the iteration.
        seen: list[Message] = []
        reader = threading.Thread(target=lambda: seen.extend(subscription))
        reader.start()
        client.publish("sport", "last")
        wait_for(lambda: any(m.data == b"last" for m in seen), 10, "the last message")
        subscription.close()
        reader.join(10)
        assert not reader.is_alive()
        # (some of the "x" published while the unsubscription was on its way came first)
        assert [m.data for m in seen if m.data != b"x"] == [b"last"]
        assert client.ping()  # the client's own connection is untouched


def test_a_server_that_goes_away_ends_the_subscription_with_an_error(
    server_factory: object,
) -> None:
    server: ServerProcess = server_factory()  # type: ignore[operator]
    client = kvstore.Client(server.address)
    subscription = client.psubscribe("*")
    wait_for(lambda: client.publish("c", "x") == 1, 10, "the subscription")
    assert subscription.get_message(timeout=10) is not None
    server.stop()
    with pytest.raises(kvstore.ConnectionError, match="lost"):
        subscription.get_message(timeout=10)
    subscription.close()
    client.close()


def test_asyncio_subscription(address: str) -> None:
    async def main() -> list[Message]:
        async with kvstore.AsyncClient(address) as client:
            subscription = await client.subscribe("ch")
            await subscription.psubscribe("p*")
            for _ in range(1000):
                if await client.publish("ch", "ready") == 1:
                    break
                await asyncio.sleep(0.01)
            await client.publish("pq", "pattern")
            got = []
            async for message in subscription:
                got.append(message)
                if message.kind == "pmessage":
                    break
            assert await subscription.get_message(timeout=0.05) is None
            await subscription.close()
            assert await subscription.get_message() is None
            return got

    got = asyncio.run(main())
    assert got[-1] == Message("pmessage", b"pq", b"p*", b"pattern")
    assert {m.data for m in got[:-1]} == {b"ready"}
