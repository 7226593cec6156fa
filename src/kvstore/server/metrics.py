"""The metrics endpoint: a minimal HTTP/1.1 server answering ``GET /metrics`` for Prometheus.

One request per connection: the request head is read (at most :data:`MAX_REQUEST_BYTES`, within
:data:`REQUEST_TIMEOUT_SECONDS`), answered, and the connection closed. ``GET`` or ``HEAD`` of
``/metrics`` (any query string ignored) gets the page; any other request a 404; a head too
large or malformed a 400; one too slow, or beyond :data:`MAX_CONNECTIONS` at once, nothing.
The page is built on the event loop, from the same figures INFO shows (see
:mod:`kvstore.server.metrics_text`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("kvstore.metrics")

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_SECONDS = 10.0
#: Requests served at once; connections beyond are closed unanswered (scrapers are few).
MAX_CONNECTIONS = 32


def _response(status: str, body: bytes, content_type: str, head_only: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head if head_only else head + body


def respond(request_head: bytes, page: Callable[[], str], content_type: str) -> bytes:
    """The whole response to a request whose head (request line and headers) is given."""
    request_line = request_head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _response("400 Bad Request", b"bad request\n", "text/plain")
    method, target, _ = parts
    path = target.split("?", 1)[0]
    if method in ("GET", "HEAD") and path == "/metrics":
        try:
            body = page().encode()
        except Exception:
            log.exception("cannot build the metrics page")
            return _response("500 Internal Server Error", b"see the server log\n", "text/plain")
        return _response("200 OK", body, content_type, head_only=method == "HEAD")
    return _response("404 Not Found", b"not found; try /metrics\n", "text/plain")


class MetricsServer:
    """Serves ``page()`` (with ``content_type``) at ``/metrics`` on one address."""

    def __init__(self, page: Callable[[], str], content_type: str) -> None:
        self._page = page
        self._content_type = content_type
        self._server: asyncio.Server | None = None
        self.address = ""
        self._active = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=MAX_REQUEST_BYTES, reuse_address=True
        )
        name = self._server.sockets[0].getsockname()
        self.address = f"[{name[0]}]:{name[1]}" if ":" in name[0] else f"{name[0]}:{name[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= MAX_CONNECTIONS:
            writer.close()
            return
        self._active += 1
        try:
            try:
                head = await asyncio.wait_for(
                    reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_SECONDS
                )
            except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, ValueError):
                writer.write(_response("400 Bad Request", b"bad request\n", "text/plain"))
            except asyncio.TimeoutError:
                pass  # a client that never finishes its request gets nothing
            else:
                writer.write(respond(head, self._page, self._content_type))
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT_SECONDS)
        except (OSError, asyncio.TimeoutError):
            pass  # the client went away or stopped reading: nothing to do but close
        except Exception:
            log.exception("metrics request failed")
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
