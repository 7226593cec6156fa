"""The primary's side: the replicas attached, the PSYNC decision, full copies, acknowledgements.

Every byte the log writes goes to :meth:`Primary.feed`: into the backlog and down each online
replica's connection. A replica asks ``PSYNC <replid> <offset>``: within the backlog of the
same history it gets ``+CONTINUE`` and the missing bytes; otherwise ``+FULLRESYNC <replid>
<offset>``, a snapshot of the table as of that offset (written by a forked child, so the loop
keeps serving), then the stream from there. Replicas acknowledge the offset they applied
(``REPLCONF ACK``); :meth:`Primary.acknowledged` is a future for "``count`` replicas hold
offset ``O``": WAIT uses it, as a synchronous cluster mode would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from kvstore.commands import Session
from kvstore.commands.ports import ClientPeer
from kvstore.keyspace import Databases
from kvstore.persistence.disk import Disk
from kvstore.persistence.rewrite import ForkedSnapshot
from kvstore.protocol.resp import encode_request
from kvstore.replication.backlog import Backlog
from kvstore.replication.ids import ReplicationIds

log = logging.getLogger("kvstore.replication")

GETACK = encode_request([b"REPLCONF", b"GETACK", b"*"])
PING = encode_request([b"PING"])
#: Sent while a replica waits for its snapshot, so its link does not time out (as Redis).
KEEPALIVE = b"\n"


@dataclass(eq=False)
class ReplicaLink:
    """One replica attached to this node."""

    session: Session
    peer: ClientPeer
    #: The port the replica serves clients on (REPLCONF listening-port), for INFO and ROLE.
    port: int
    #: ``wait_bgsave`` (its snapshot is being written), ``online`` (it gets the stream).
    state: str = "wait_bgsave"
    #: The last offset the replica said it applied, and when (loop time).
    ack_offset: int = 0
    ack_time: float = 0.0
    #: The stream written while its snapshot is prepared, sent after it.
    pending: list[bytes] = field(default_factory=list)
    #: The ID the replica announced (REPLCONF node-id; empty: none).
    node_id: str = ""

    @property
    def ip(self) -> str:
        return self.session.addr.rpartition(":")[0].strip("[]")

    @property
    def alive(self) -> bool:
        return self.session.peer is not None

    @property
    def name(self) -> str:
        """``ip:port``, the port the replica serves clients on."""
        return f"{self.ip}:{self.port}"

    def named(self, names: frozenset[str]) -> bool:
        """Whether ``names`` holds this replica's ``ip:port`` or its announced node ID."""
        return self.name in names or (bool(self.node_id) and self.node_id in names)


@dataclass(eq=False)
class _Waiter:
    offset: int
    count: int
    future: asyncio.Future[int]
    #: Only these replicas count ("ip:port" or announced node ID); None: any.
    among: frozenset[str] | None = None


@dataclass(eq=False)
class _SyncJob:
    """A snapshot being written for the replicas in ``links``, as of ``offset``."""

    offset: int
    path: str
    links: list[ReplicaLink]
    fork: ForkedSnapshot | None = None


class Primary:
    def __init__(
        self,
        ids: ReplicationIds,
        dbs: Databases,
        *,
        sync_dir: str,
        flush_log: Callable[[], None],
        stream_db: Callable[[], int],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.ids = ids
        self.dbs = dbs
        #: Where full copies' snapshots are written (the data directory, or a temporary one).
        self.sync_dir = sync_dir
        #: Writes what the log buffers now, so the stream holds every write made so far.
        self.flush_log = flush_log
        #: The database the stream's records are for at its current offset: a full copy
        #: says it (records name no database; a SELECT before them does).
        self.stream_db = stream_db
        self.loop = loop
        self.backlog: Backlog | None = None
        self.links: list[ReplicaLink] = []
        self._waiters: list[_Waiter] = []
        self._job: _SyncJob | None = None
        self._queued: list[ReplicaLink] = []
        self._jobs_started = 0
        self._getack_asked = False
        #: INFO stats: full copies sent, PSYNCs continued, PSYNCs that could not be.
        self.sync_full = 0
        self.sync_partial_ok = 0
        self.sync_partial_err = 0

    # -- the stream ------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        return 0 if self.backlog is None else self.backlog.offset

    def feed(self, data: bytes) -> None:
        """Bytes written to the log (or, on a replica, applied from its primary): the stream."""
        backlog = self.backlog
        if backlog is None:
            return
        backlog.feed(data)
        for link in self.links:
            if link.state == "online":
                link.peer.push(data)
            else:
                link.pending.append(data)

    def send_link_command(self, data: bytes) -> None:
        """A command of the link itself (PING, GETACK) to each online replica, between batches."""
        for link in self.links:
            if link.state == "online":
                link.peer.push(data)

    # -- attaching replicas --------------------------------------------------------------------

    def psync(
        self, session: Session, port: int, replid: str, psync_offset: int, node_id: str = ""
    ) -> None:
        """Answer a replica's PSYNC (called after the replies before it were written)."""
        peer = session.peer
        backlog = self.backlog
        if peer is None or backlog is None:
            return
        link = ReplicaLink(session, peer, port, ack_time=self.loop.time(), node_id=node_id)
        self._forget(session)
        if replid != "?" and self.ids.knows(replid, psync_offset):
            missing = backlog.since(psync_offset)
            if missing is not None:
                self.sync_partial_ok += 1
                link.state = "online"
                link.ack_offset = psync_offset - 1
                self.links.append(link)
                peer.push(b"+CONTINUE %s\r\n" % self.ids.replid.encode() + missing)
                log.info(
                    "replica %s:%d continues from offset %d (%d bytes from the backlog)",
                    link.ip,
                    port,
                    psync_offset,
                    len(missing),
                )
                return
        if replid != "?":
            self.sync_partial_err += 1
            log.info(
                "replica %s:%d asked for offset %d of %s: not in the backlog, a full copy follows",
                link.ip,
                port,
                psync_offset,
                replid,
            )
        self.sync_full += 1
        self.links.append(link)
        self._full_copy(link)

    def _full_copy(self, link: ReplicaLink) -> None:
        job = self._job
        backlog = self.backlog
        assert backlog is not None
        if job is not None:
            caught_up = backlog.since(job.offset + 1)
            if caught_up is not None:  # share the snapshot being written: the backlog bridges
                self._start_link(link, job, [caught_up] if caught_up else [])
                return
            self._queued.append(link)
            return
        self._fork([link])

    def _start_link(self, link: ReplicaLink, job: _SyncJob, pending: list[bytes]) -> None:
        link.state = "wait_bgsave"
        link.pending = pending
        link.peer.push(b"+FULLRESYNC %s %d\r\n" % (self.ids.replid.encode(), job.offset))
        job.links.append(link)

    def _fork(self, links: list[ReplicaLink]) -> None:
        self.flush_log()
        self._jobs_started += 1
        path = os.path.join(self.sync_dir, f"snapshot.kvs.tmp.sync.{os.getpid()}")
        job = _SyncJob(self.offset, path, [])
        for link in links:
            self._start_link(link, job, [])
        try:
            job.fork = ForkedSnapshot(
                Disk(),
                path,
                self.dbs,
                # Where a data directory's snapshot names its next log, a full copy names the
                # database the stream goes on in.
                next_log=self.stream_db(),
                loop=self.loop,
                on_done=lambda ok: self._copied(job, ok),
            )
        except OSError as exc:
            log.error("cannot start a full copy for replicas: %s", exc.strerror or exc)
            for link in links:
                self._drop(link)
            return
        self._job = job
        log.info("writing a snapshot at offset %d for %d replica(s)", job.offset, len(links))

    def _copied(self, job: _SyncJob, ok: bool) -> None:
        if self._job is job:
            self._job = None
        try:
            with open(job.path, "rb") as file:
                data = file.read() if ok else b""
        except OSError as exc:
            log.error("cannot read the snapshot written for replicas: %s", exc.strerror or exc)
            ok = False
            data = b""
        with contextlib.suppress(OSError):
            os.remove(job.path)
        for link in job.links:
            if not link.alive or link not in self.links:
                continue
            if not ok:
                log.error("the snapshot for replica %s:%d failed: dropping it", link.ip, link.port)
                self._drop(link)
                continue
            link.peer.push(b"$%d\r\n" % len(data))
            link.peer.push(data)
            for piece in link.pending:
                link.peer.push(piece)
            link.pending = []
            link.state = "online"
            link.ack_time = self.loop.time()
            log.info(
                "full copy sent to replica %s:%d (%d bytes at offset %d)",
                link.ip,
                link.port,
                len(data),
                job.offset,
            )
        queued, self._queued = [link for link in self._queued if link.alive], []
        if queued:
            self._fork(queued)

    # -- acknowledgements ------------------------------------------------------------------------

    def ack(self, session: Session, offset: int) -> None:
        for link in self.links:
            if link.session is session:
                link.ack_offset = max(link.ack_offset, offset)
                link.ack_time = self.loop.time()
                break
        if self._waiters:
            self._settle()

    def count_acked(self, offset: int, among: frozenset[str] | None = None) -> int:
        return sum(
            1
            for link in self.links
            if link.alive and link.ack_offset >= offset and (among is None or link.named(among))
        )

    def acked_by_node(self) -> dict[str, int]:
        """The acknowledged offset of each connected replica that announced a node ID."""
        return {link.node_id: link.ack_offset for link in self.links if link.alive and link.node_id}

    def acknowledged(
        self, offset: int, count: int, among: frozenset[str] | None = None
    ) -> asyncio.Future[int]:
        """A future that resolves, with how many hold it, once ``count`` replicas (of those
        named ``among``, as ``ip:port`` or announced node ID, if given) have acknowledged
        offset ``offset``: the seam for WAIT and for synchronous acknowledgement (a write is
        acknowledged once a chosen replica holds the offset the log reached after it). Cancel
        it to stop waiting."""
        future: asyncio.Future[int] = self.loop.create_future()
        held = self.count_acked(offset, among)
        if held >= count:
            future.set_result(held)
        else:
            self._waiters.append(_Waiter(offset, count, future, among))
            self.ask_for_acks()
        return future

    def ask_for_acks(self) -> None:
        """Ask every replica for its offset (REPLCONF GETACK), once per loop iteration."""
        if not self._getack_asked:
            self._getack_asked = True
            self.loop.call_soon(self._send_getack)

    def _send_getack(self) -> None:
        self._getack_asked = False
        self.send_link_command(GETACK)

    def _settle(self) -> None:
        waiting = []
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            held = self.count_acked(waiter.offset, waiter.among)
            if held >= waiter.count:
                waiter.future.set_result(held)
            else:
                waiting.append(waiter)
        self._waiters = waiting

    def good_replicas(self, max_lag: int) -> int:
        """Replicas online that acknowledged within ``max_lag`` seconds (min-replicas-*)."""
        now = self.loop.time()
        return sum(
            1
            for link in self.links
            if link.alive and link.state == "online" and now - link.ack_time <= max_lag
        )

    # -- upkeep ------------------------------------------------------------------------------------

    def tick(self, ping: bool, timeout: int) -> None:
        """Once a second: forget replicas that left, drop those silent past ``timeout``
        seconds, keep those waiting for a snapshot alive, and PING the others if asked."""
        now = self.loop.time()
        for link in list(self.links):
            if not link.alive:
                self.links.remove(link)
                log.info("replica %s:%d is gone", link.ip, link.port)
            elif link.state == "online" and timeout and now - link.ack_time > timeout:
                log.warning(
                    "replica %s:%d sent no acknowledgement for %ds: dropping it",
                    link.ip,
                    link.port,
                    timeout,
                )
                self._drop(link)
            elif link.state != "online":
                link.peer.push(KEEPALIVE)
        if ping:
            self.send_link_command(PING)
        if self._waiters:
            self._settle()

    def _forget(self, session: Session) -> None:
        self.links = [link for link in self.links if link.session is not session]

    def _drop(self, link: ReplicaLink) -> None:
        with contextlib.suppress(ValueError):
            self.links.remove(link)
        link.peer.kill()

    def drop_all(self) -> None:
        """Disconnect every replica (this node's history changes under them)."""
        for link in list(self.links):
            self._drop(link)
        self._queued = []
        if self._job is not None and self._job.fork is not None:
            self._job.fork.cancel()
            with contextlib.suppress(OSError):
                os.remove(self._job.path)
            self._job = None

    def close(self) -> None:
        self.drop_all()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters = []

    # -- INFO and ROLE -----------------------------------------------------------------------------

    def replicas_info(self) -> dict[str, str | int]:
        now = self.loop.time()
        fields: dict[str, str | int] = {}
        online = [link for link in self.links if link.alive]
        fields["connected_slaves"] = len(online)
        for index, link in enumerate(online):
            lag = int(now - link.ack_time)
            fields[f"slave{index}"] = (
                f"ip={link.ip},port={link.port},state={link.state},"
                f"offset={link.ack_offset},lag={lag}"
            )
        return fields

    def role_entries(self) -> list[list[bytes]]:
        return [
            [link.ip.encode(), b"%d" % link.port, b"%d" % link.ack_offset]
            for link in self.links
            if link.alive
        ]

    @property
    def syncing(self) -> bool:
        return self._job is not None
