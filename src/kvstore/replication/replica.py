"""The replica's side: the link to the primary.

Connect, handshake as Redis does (PING, AUTH, REPLCONF listening-port and capa, PSYNC), then
either go on from where this node stood (``+CONTINUE``) or load a full copy
(``+FULLRESYNC``), then apply the stream batch by batch. Each batch is applied whole, in one
loop callback, through the server's own dispatcher (so the node's log records it, as any
write); its bytes are then fed on to this node's backlog and its own replicas unchanged.
A lost link is tried again with back-off; every failure says why in the log.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from kvstore.protocol.resp import encode_request
from kvstore.replication.stream import Batch, LinkCommand, StreamDamagedError, StreamReader

log = logging.getLogger("kvstore.replication")

#: Reconnecting waits this long after the first failure, doubling up to the cap.
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0
READ_SIZE = 1 << 16


class LinkError(Exception):
    """The link failed; the message says why, for the log."""


@dataclass
class PrimaryAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class LinkHandler:
    """What the link asks of the node it feeds (:class:`kvstore.replication.node.Replication`)."""

    def psync_position(self) -> tuple[str, int]:
        """(replication ID, offset of the last byte applied), or ("?", -1) to ask for a copy."""
        raise NotImplementedError

    def load_copy(self, replid: str, offset: int, snapshot: bytes) -> None:
        """Replace the table with a full copy as of ``offset`` of history ``replid``."""
        raise NotImplementedError

    def continued(self, replid: str) -> None:
        """The primary continues the stream (under ``replid``, maybe a new ID)."""
        raise NotImplementedError

    def apply(self, batch: Batch) -> None:
        """Apply one batch of the stream and pass it on."""
        raise NotImplementedError

    def applied_offset(self) -> int:
        raise NotImplementedError

    def lost_history(self) -> None:
        """The stream was damaged: the next PSYNC must ask for a full copy."""
        raise NotImplementedError

    def link_state_changed(self) -> None:
        """The link came up or went down (read-only guards and stale reads depend on it)."""
        raise NotImplementedError


class ReplicaLinkClient:
    """The task that follows one primary until stopped."""

    def __init__(
        self,
        address: PrimaryAddress,
        handler: LinkHandler,
        *,
        listening_port: int,
        password: Callable[[], str],
        node_id: Callable[[], str] = lambda: "",
        tls: ssl.SSLContext | None,
        timeout: Callable[[], int],
    ) -> None:
        self.address = address
        self.handler = handler
        self.listening_port = listening_port
        self.password = password
        self.node_id = node_id
        self.tls = tls
        self.timeout = timeout
        #: Redis's states: connect, connecting, sync (a full copy is arriving), connected.
        self.state = "connect"
        self.last_io = time.monotonic()
        self.down_since = time.monotonic()
        self.sync_total = 0
        self.sync_read = 0
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._ack_timer: asyncio.TimerHandle | None = None

    @property
    def up(self) -> bool:
        return self.state == "connected"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._close()

    def _close(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        was_up = self.state == "connected"
        self.state = "connect"
        if was_up:
            self.down_since = time.monotonic()
            self.handler.link_state_changed()

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        # Until stopped, not only until cancelled: Python 3.11's wait_for can lose a
        # cancellation that arrives as what it waits for completes.
        while self._task is not None:
            healthy = False
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (
                OSError,
                LinkError,
                StreamDamagedError,
                asyncio.IncompleteReadError,
                asyncio.TimeoutError,
            ) as exc:
                healthy = self.state == "connected"
                if isinstance(exc, StreamDamagedError):
                    self.handler.lost_history()
                log.warning(
                    "replication link to %s lost: %s; retrying in %.1fs",
                    self.address,
                    _reason(exc),
                    RETRY_FIRST_SECONDS if healthy else delay,
                )
            self._close()
            if healthy:  # it worked for a while: the first retry comes quickly again
                delay = RETRY_FIRST_SECONDS
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _follow(self) -> None:
        self.state = "connecting"
        host, port = self.address.host, self.address.port
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self.tls, limit=1 << 20),
                timeout=max(self.timeout(), 1),
            )
        except asyncio.TimeoutError:
            raise LinkError("timed out connecting") from None
        self._writer = writer
        await self._handshake(reader, writer)
        replid, offset = self.handler.psync_position()
        writer.write(encode_request([b"PSYNC", replid.encode(), b"%d" % (offset + 1)]))
        line = await self._line(reader)
        if line.startswith("+FULLRESYNC"):
            parts = line.split()
            if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
                raise LinkError(f"a bad reply to PSYNC: {line!r}")
            self.state = "sync"
            snapshot = await self._read_copy(reader)
            self.handler.load_copy(parts[1], int(parts[2]), snapshot)
            log.info(
                "full copy from %s loaded (%d bytes, offset %s)",
                self.address,
                len(snapshot),
                parts[2],
            )
        elif line.startswith("+CONTINUE"):
            parts = line.split()
            self.handler.continued(parts[1] if len(parts) > 1 else replid)
            log.info("continuing from %s at offset %d", self.address, offset + 1)
        else:
            raise LinkError(f"the primary refused PSYNC: {line}")
        self.state = "connected"
        self.handler.link_state_changed()
        self._schedule_ack()
        await self._stream(reader)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_request([b"PING"]))
        reply = await self._line(reader)
        if reply.startswith("-") and not reply.startswith("-NOAUTH"):
            raise LinkError(f"the primary answered PING with {reply}")
        password = self.password()
        if password:
            writer.write(encode_request([b"AUTH", password.encode()]))
            reply = await self._line(reader)
            if not reply.startswith("+"):
                raise LinkError(f"the primary refused the password (masterauth): {reply}")
        elif reply.startswith("-NOAUTH"):
            raise LinkError("the primary requires a password: set masterauth")
        port = b"%d" % self.listening_port
        writer.write(encode_request([b"REPLCONF", b"listening-port", port]))
        await self._expect_ok(reader, "REPLCONF listening-port")
        node_id = self.node_id()
        if node_id:  # a kvstore option: sent only when set (Redis refuses it)
            writer.write(encode_request([b"REPLCONF", b"node-id", node_id.encode()]))
            await self._expect_ok(reader, "REPLCONF node-id")
        writer.write(encode_request([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]))
        await self._expect_ok(reader, "REPLCONF capa")

    async def _expect_ok(self, reader: asyncio.StreamReader, what: str) -> None:
        reply = await self._line(reader)
        if not reply.startswith("+"):
            raise LinkError(f"the primary refused {what}: {reply}")

    async def _line(self, reader: asyncio.StreamReader) -> str:
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout=max(self.timeout(), 1))
            if not raw:
                raise LinkError("the primary closed the connection")
            self.last_io = time.monotonic()
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if line:  # an empty line is a keep-alive
                return line

    async def _read_copy(self, reader: asyncio.StreamReader) -> bytes:
        header = await self._line(reader)
        if not header.startswith("$") or not header[1:].isdigit():
            raise LinkError(f"expected the full copy's length, got {header!r}")
        size = int(header[1:])
        self.sync_total, self.sync_read = size, 0
        chunks = bytearray()
        while len(chunks) < size:
            chunk = await asyncio.wait_for(
                reader.read(min(READ_SIZE * 16, size - len(chunks))),
                timeout=max(self.timeout(), 1),
            )
            if not chunk:
                raise LinkError("the primary closed the connection during the full copy")
            chunks += chunk
            self.sync_read = len(chunks)
            self.last_io = time.monotonic()
        return bytes(chunks)

    async def _stream(self, reader: asyncio.StreamReader) -> None:
        stream = StreamReader()
        while True:
            try:
                data = await asyncio.wait_for(
                    reader.read(READ_SIZE), timeout=self.timeout() or None
                )
            except asyncio.TimeoutError:
                raise LinkError(f"no data from the primary for {self.timeout()}s") from None
            if not data:
                raise LinkError("the primary closed the connection")
            self.last_io = time.monotonic()
            if self._task is None:
                return  # stopped (the cancellation lost): apply nothing more
            for item in stream.feed(data):
                if isinstance(item, Batch):
                    self.handler.apply(item)
                elif _is_getack(item):
                    self.send_ack()

    def _schedule_ack(self) -> None:
        self._ack_timer = asyncio.get_running_loop().call_later(1.0, self._ack_tick)

    def _ack_tick(self) -> None:
        self.send_ack()
        self._schedule_ack()

    def send_ack(self) -> None:
        writer = self._writer
        if writer is not None and self.state == "connected":
            offset = b"%d" % self.handler.applied_offset()
            writer.write(encode_request([b"REPLCONF", b"ACK", offset]))


def _is_getack(item: LinkCommand) -> bool:
    words = item.words
    return len(words) >= 2 and words[0].lower() == b"replconf" and words[1].lower() == b"getack"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the primary closed the connection"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
