"""The metadata store on etcd v3, through its JSON gateway with the etcd3gw client (the
``cluster`` extra: ``pip install 'kvstore[cluster]'``).

etcd 3.4 serves the gateway under ``/v3/`` (``/v3beta/`` too, until 3.5); etcd3gw finds the
path by asking ``/version``, and this module names it. Several members may be given: a
request that cannot reach one goes to the next.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kvstore.cluster.metadata import Cancel, Change, Compare, Entry, MetadataError

#: The gateway's path on etcd 3.4 and later.
API_PATH = "/v3/"
#: Seconds a request may take before the member counts as unreachable.
REQUEST_TIMEOUT = 2.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's range end)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _entry(kv: dict[str, Any]) -> Entry:
    return Entry(
        _unb64(kv.get("value", "")),
        int(kv.get("create_revision", 0)),
        int(kv.get("mod_revision", 0)),
        int(kv.get("lease", 0)),
    )


def parse_endpoint(text: str) -> tuple[str, int]:
    """``host:port`` (or ``http://host:port``, ``[::1]:2379``) as a host and a port."""
    text = text.removeprefix("http://").rstrip("/")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise MetadataError(f"not an etcd endpoint (host:port): {text!r}")
    return host.strip("[]"), int(port)


class EtcdStore:
    def __init__(self, endpoints: Sequence[str], *, timeout: float = REQUEST_TIMEOUT) -> None:
        try:
            import etcd3gw  # noqa: PLC0415 - optional: only cluster mode on etcd needs it
        except ImportError:
            raise MetadataError(
                "the etcd client is not installed: pip install 'kvstore[cluster]' (etcd3gw)"
            ) from None
        if not endpoints:
            raise MetadataError("no etcd endpoint given")
        self._clients = [
            etcd3gw.Etcd3Client(host=host, port=port, timeout=timeout, api_path=API_PATH)
            for host, port in (parse_endpoint(endpoint) for endpoint in endpoints)
        ]
        self._errors: tuple[type[Exception], ...] = (etcd3gw.exceptions.Etcd3Exception,)
        self._current = 0
        self._lock = threading.Lock()

    def _call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` to the gateway, trying each member in turn."""
        failures = []
        for _ in range(len(self._clients)):
            with self._lock:
                index = self._current
            client = self._clients[index]
            try:
                result: dict[str, Any] = client.post(client.get_url(path), json=payload)
                return result
            except self._errors as exc:
                failures.append(f"{client.host}:{client.port}: {type(exc).__name__}")
                with self._lock:
                    if self._current == index:
                        self._current = (index + 1) % len(self._clients)
        raise MetadataError("etcd cannot be reached (" + "; ".join(failures) + ")")

    def get(self, key: bytes) -> Entry | None:
        kvs = self._call("/kv/range", {"key": _b64(key)}).get("kvs", [])
        return _entry(kvs[0]) if kvs else None

    def get_prefix(self, prefix: bytes) -> tuple[dict[bytes, Entry], int]:
        reply = self._call(
            "/kv/range", {"key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))}
        )
        entries = {_unb64(kv["key"]): _entry(kv) for kv in reply.get("kvs", [])}
        return entries, int(reply["header"]["revision"])

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        request: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            request["lease"] = lease
        return int(self._call("/kv/put", request)["header"]["revision"])

    def _txn(self, compare: dict[str, Any], put: dict[str, Any]) -> dict[str, Any]:
        return self._call("/kv/txn", {"compare": [compare], "success": [{"request_put": put}]})

    def create(self, key: bytes, value: bytes, lease: int = 0) -> Entry | None:
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = lease
        compare = {"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": 0}
        reply = self._txn(compare, put)
        if not reply.get("succeeded"):
            return None
        revision = int(reply["header"]["revision"])
        return Entry(value, revision, revision, lease)

    def replace(self, key: bytes, value: bytes, mod_revision: int) -> bool:
        compare = {
            "key": _b64(key),
            "result": "EQUAL",
            "target": "MOD",
            "mod_revision": mod_revision,
        }
        reply = self._txn(compare, {"key": _b64(key), "value": _b64(value)})
        return bool(reply.get("succeeded"))

    def commit(
        self, conditions: Sequence[Compare], key: bytes, value: bytes, lease: int = 0
    ) -> int | None:
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = lease
        compares: list[dict[str, Any]] = []
        for condition in conditions:
            target: dict[str, Any] = {"key": _b64(condition.key), "result": "EQUAL"}
            if condition.create_revision is not None:
                compares.append(
                    target | {"target": "CREATE", "create_revision": condition.create_revision}
                )
            if condition.mod_revision is not None:
                compares.append(target | {"target": "MOD", "mod_revision": condition.mod_revision})
            if condition.value is not None:
                compares.append(target | {"target": "VALUE", "value": _b64(condition.value)})
        reply = self._call("/kv/txn", {"compare": compares, "success": [{"request_put": put}]})
        return int(reply["header"]["revision"]) if reply.get("succeeded") else None

    def delete(self, key: bytes) -> bool:
        return int(self._call("/kv/deleterange", {"key": _b64(key)}).get("deleted", 0)) > 0

    def grant(self, ttl: int) -> int:
        return int(self._call("/lease/grant", {"TTL": ttl, "ID": 0})["ID"])

    def keepalive(self, lease: int) -> int:
        return int(self._call("/lease/keepalive", {"ID": lease})["result"].get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self._call("/lease/revoke", {"ID": lease})

    def watch_prefix(
        self, prefix: bytes, start_revision: int, callback: Callable[[Change], None]
    ) -> Cancel:
        watch = _Watch(self, prefix, start_revision, callback)
        watch.start()
        return watch.cancel

    def close(self) -> None:
        for client in self._clients:
            client.session.close()


class _Watch(threading.Thread):
    """One watch stream on the gateway, reopened (from the next revision) on another member
    when its member goes away."""

    def __init__(
        self, store: EtcdStore, prefix: bytes, start: int, callback: Callable[[Change], None]
    ) -> None:
        super().__init__(name="kvstore-etcd-watch", daemon=True)
        self.store, self.prefix, self.next_revision, self.callback = store, prefix, start, callback
        self.stopped = threading.Event()
        self._response: Any = None

    def cancel(self) -> None:
        self.stopped.set()
        response = self._response
        if response is None:
            return
        # Closing the response from here would wait for the thread reading it; shutting the
        # socket down ends that read at once (the thread then closes the response itself).
        with contextlib.suppress(Exception):
            fd = response.raw._fp.fileno()
            with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        store = self.store
        while not self.stopped.is_set():
            client = store._clients[store._current]
            request: dict[str, Any] = {
                "create_request": {
                    "key": _b64(self.prefix),
                    "range_end": _b64(_prefix_end(self.prefix)),
                    "start_revision": self.next_revision,
                }
            }
            try:
                self._response = client.session.post(
                    client.get_url("/watch"), json=request, stream=True, timeout=(2.0, None)
                )
                with self._response:
                    for line in self._response.iter_lines():
                        if self.stopped.is_set():
                            return
                        if line:
                            self._deliver(json.loads(line).get("result", {}))
            except Exception:  # the member went away (or the stream broke): try the next one
                with store._lock:
                    store._current = (store._current + 1) % len(store._clients)
            self.stopped.wait(0.2)  # not a busy loop while no member answers

    def _deliver(self, result: dict[str, Any]) -> None:
        for event in result.get("events", []):
            kv = event["kv"]
            change = Change(
                "delete" if event.get("type") == "DELETE" else "put",
                _unb64(kv["key"]),
                _unb64(kv.get("value", "")),
                int(kv.get("mod_revision", 0)),
                int(kv.get("create_revision", 0)),
            )
            self.next_revision = change.mod_revision + 1
            if not self.stopped.is_set():
                self.callback(change)
