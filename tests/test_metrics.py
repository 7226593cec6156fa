"""The Prometheus endpoint: a real ``./server --metrics-port``, driven with commands, scraped
over a socket and parsed strictly with prometheus_client's parser; and the HTTP rules."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from conftest import (
    ServerProcess,
    free_port,
    read_to_eof,
    retry_bind,
    run_server_to_exit,
    start_server,
    wait_for,
)
from kvstore import __version__
from kvstore.server.metrics import MAX_CONNECTIONS, MAX_REQUEST_BYTES, respond

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def http(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send ``request``; return the status line, the headers and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = read_to_eof(sock)  # the server closes after one response
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    if not request.startswith(b"HEAD "):  # HEAD: the length of the body a GET would get
        assert int(headers["Content-Length"]) == len(body)
    return status, headers, body


def scrape(port: int) -> Samples:
    status, headers, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == "HTTP/1.1 200 OK"
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        assert family.documentation, family.name
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, key
            samples[key] = sample.value
    return samples


@pytest.fixture(scope="module")
def metered() -> Iterator[tuple[ServerProcess, int]]:
    def start() -> tuple[ServerProcess, int]:
        metrics_port = free_port()
        return start_server("--metrics-port", str(metrics_port)), metrics_port

    server, metrics_port = retry_bind(start)
    assert any(f"metrics on http://127.0.0.1:{metrics_port}/metrics" in x for x in server.log)
    yield server, metrics_port
    server.stop()


def test_scrape_follows_the_server(metered: tuple[ServerProcess, int]) -> None:
    server, port = metered
    before = scrape(port)
    client = redis.Redis(port=server.port)
    try:
        client.set("a", "1")
        client.set("b", "2", ex=100)
        assert client.get("a") == b"1"
        assert client.get("missing") is None
        with pytest.raises(redis.ResponseError):
            client.incr("a", "x")  # type: ignore[arg-type]
        with pytest.raises(redis.ResponseError):
            client.execute_command("GET")  # type: ignore[no-untyped-call]
        after = scrape(port)
        info = client.info("all")
        assert after[("kvstore_connected_clients", ())] >= 1
    finally:
        client.close()

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0)

    assert grew("kvstore_commands_processed_total", (("command", "set"),)) == 2
    assert grew("kvstore_commands_processed_total", (("command", "get"),)) == 2
    assert grew("kvstore_commands_rejected_total", (("command", "get"),)) == 1
    assert grew("kvstore_commands_failed_total", (("command", "incrby"),)) == 1
    # every error reply is a rejected or failed command here (redis-py's own CLIENT calls
    # on connecting included), and all of them are ERR
    refusals = sum(
        grew(name, labels)
        for name, labels in after
        if name in ("kvstore_commands_rejected_total", "kvstore_commands_failed_total")
    )
    assert grew("kvstore_error_replies_total", (("code", "ERR"),)) == refusals >= 2
    assert grew("kvstore_keyspace_hits_total") == 1
    assert grew("kvstore_keyspace_misses_total") == 1
    assert after[("kvstore_commands_duration_seconds_total", (("command", "set"),))] > 0
    assert after[("kvstore_keys", ())] == 2
    assert after[("kvstore_keys_with_expiry", ())] == 1
    assert after[("kvstore_expired_keys_total", ())] == 0
    assert after[("kvstore_evicted_keys_total", ())] == 0
    assert after[("kvstore_memory_used_bytes", ())] == info["used_memory"]
    assert after[("kvstore_memory_rss_bytes", ())] > 1_000_000
    assert after[("kvstore_persistence_enabled", ())] == 1
    assert after[("kvstore_persistence_last_write_ok", ())] == 1
    assert after[("kvstore_persistence_rewrite_in_progress", ())] == 0
    assert after[("kvstore_persistence_log_size_bytes", ())] > 0
    assert after[("kvstore_uptime_seconds", ())] >= 0
    assert after[("kvstore_connections_received_total", ())] >= 1
    labels = (("python_version", info["python_version"]), ("redis_version", "7.0.0"))
    assert after[("kvstore_build_info", (*labels, ("version", __version__)))] == 1
    # INFO and the page read the same counters
    assert info["keyspace_hits"] == after[("kvstore_keyspace_hits_total", ())]
    assert (
        info["cmdstat_set"]["calls"]
        == after[("kvstore_commands_processed_total", (("command", "set"),))]
    )


def test_connected_clients_drop_when_clients_leave(metered: tuple[ServerProcess, int]) -> None:
    server, port = metered
    baseline = scrape(port)[("kvstore_connected_clients", ())]
    with server.connect():
        wait_for(
            lambda: scrape(port)[("kvstore_connected_clients", ())] == baseline + 1,
            10,
            "the new client to be counted",
        )
    wait_for(
        lambda: scrape(port)[("kvstore_connected_clients", ())] == baseline,
        10,
        "the client to be gone",
    )


def test_anything_but_get_metrics_is_refused(metered: tuple[ServerProcess, int]) -> None:
    _, port = metered
    assert http(port, b"GET / HTTP/1.1\r\n\r\n")[0] == "HTTP/1.1 404 Not Found"
    assert http(port, b"POST /metrics HTTP/1.1\r\n\r\n")[0] == "HTTP/1.1 404 Not Found"
    assert http(port, b"nonsense\r\n\r\n")[0] == "HTTP/1.1 400 Bad Request"
    huge = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * MAX_REQUEST_BYTES + b"\r\n\r\n"
    assert http(port, huge)[0] == "HTTP/1.1 400 Bad Request"
    status, headers, body = http(port, b"HEAD /metrics?x=1 HTTP/1.1\r\n\r\n")
    assert (status, body) == ("HTTP/1.1 200 OK", b"")
    assert int(headers["Content-Length"]) > 1000
    # the metrics port never speaks RESP
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n\r\n")
        assert read_to_eof(sock).startswith(b"HTTP/1.1 400")


def test_off_by_default_and_a_taken_port_is_a_startup_error() -> None:
    server = start_server("--no-persist")
    try:
        assert not any("metrics on" in line for line in server.log)
    finally:
        server.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_server_to_exit("--no-persist", "--metrics-port", str(port))
    assert done.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr


def test_connections_beyond_the_bound_are_closed(metered: tuple[ServerProcess, int]) -> None:
    _, port = metered
    idle = [
        socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(MAX_CONNECTIONS)
    ]
    try:
        for sock in idle:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # never finished
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            extra.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            assert read_to_eof(extra) == b""
    finally:
        for sock in idle:
            sock.close()

    def served() -> bool:  # closed unanswered until the idle connections' slots are free
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            return read_to_eof(sock).startswith(b"HTTP/1.1 200 OK\r\n")

    wait_for(served, 10, "the idle connections' slots to be free")


def test_a_failing_page_is_a_500() -> None:
    def broken() -> str:
        raise RuntimeError("no figures")

    response = respond(b"GET /metrics HTTP/1.1\r\n\r\n", broken, "text/plain")
    assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
