"""Replication as one node runs it: its role, its history (IDs and backlog), and the switch
between primary and replica.

The stream is the append-only log's bytes. On a primary the log hands every byte it writes
to the backlog and the replicas (:attr:`AppendLog.on_append`); a node without persistence gets
a journal writing to no file once it first needs a stream. On a replica the log is the node's
own (it persists like any node) and the stream is what the primary sent, passed on unchanged
to this node's backlog and replicas, so offsets agree all along a chain and a promoted
replica continues the history its replicas already hold.

Records carry no database of their own: a ``SELECT`` before them says which. Wherever a
replica could start reading without knowing the writer's database (a full copy's offset, a
new log file, a promotion, a restart) this node puts one in the stream first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
import time
from collections.abc import Callable, Sequence

from kvstore import build
from kvstore.commands import Command, Dispatcher, ServerState, Session
from kvstore.config import ServerConfig
from kvstore.config.options import parse_replicaof
from kvstore.keyspace import Keyspace
from kvstore.persistence import Persistence, snapshot
from kvstore.persistence import journal as pure_journal
from kvstore.persistence.journal import LogJournal
from kvstore.persistence.records import encode_select, frame
from kvstore.protocol.replies import OK, Replies, Reply, ReplyError, Status
from kvstore.replication import state_file
from kvstore.replication.backlog import Backlog
from kvstore.replication.guards import MASTERDOWN, NOREPLICAS, READONLY, guarded_table
from kvstore.replication.held_writes import AckWaiter, HeldWrites
from kvstore.replication.ids import NO_ID, ReplicationIds, new_replid
from kvstore.replication.nofile import NoFileLog
from kvstore.replication.primary import Primary
from kvstore.replication.replica import LinkError, LinkHandler, PrimaryAddress, ReplicaLinkClient
from kvstore.replication.stream import Batch

log = logging.getLogger("kvstore.replication")

WAIT_ON_REPLICA = ReplyError(
    "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 "
    "if a replica is configured to be writable (which is not the default) writes to replicas "
    "are just local and are not propagated."
)
NOMASTERLINK = ReplyError("NOMASTERLINK Can't SYNC while not connected with my master")
#: The journal of the build in use, for a node without persistence (kvstore.build).
_journal = build.choose(pure_journal)


class Replication(LinkHandler):
    """This node's replication (the commands reach it as ``ReplicationControl``)."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        state: ServerState,
        dispatcher: Dispatcher,
        persistence: Persistence | None,
        listening_port: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.config = config
        self.state = state
        self.dispatcher = dispatcher
        self.persistence = persistence
        self.listening_port = listening_port
        self.loop = loop
        self.ids = ReplicationIds()
        self.journal: LogJournal | None = None if persistence is None else persistence.journal
        sync_dir = tempfile.gettempdir() if persistence is None else persistence.directory
        self.primary = Primary(
            self.ids,
            state.dbs,
            sync_dir=sync_dir,
            flush_log=self._flush_log,
            stream_db=self._stream_db,
            loop=loop,
        )
        #: The primary this node follows (None: it is a primary) and the link to it.
        self.master: PrimaryAddress | None = None
        self.link: ReplicaLinkClient | None = None
        #: The session the primary's stream runs in: its SELECTs move it, and it may write.
        self.link_session = Session(state, addr="primary")
        self.link_session.authenticated = True
        self.link_session.applies_stream = True
        #: This node's data is a known offset of ``ids.replid``'s history (else PSYNC asks
        #: for a full copy with ``?``).
        self.history = False
        #: Told when the command table must be wrapped again (the assembly's refresh).
        self.on_mode_change: Callable[[], None] = lambda: None
        self._ports: dict[int, int] = {}
        #: Node IDs replicas announced in their handshake (REPLCONF node-id), by session.
        self._node_ids: dict[int, str] = {}
        #: The node ID this node announces to its primary (empty: none, as Redis).
        self._node_id = ""
        #: Write replies waiting for a replica's acknowledgement (synchronous mode).
        self.held_writes = HeldWrites(self.primary, loop)
        self._log_seq = -1
        self._timer: asyncio.TimerHandle | None = None
        self._ticks = 0
        self._apply_errors = 0

    # -- start and stop --------------------------------------------------------------------------

    def start(self) -> None:
        self._restore()
        target = parse_replicaof(self.config.replicaof)
        if target is not None:
            self._follow(PrimaryAddress(*target))
        elif self.primary.backlog is not None:
            self._tap_on()
            self._mark_db()
        self.apply_sync_replicas()
        self._timer = self.loop.call_later(1.0, self._tick)

    def stop(self) -> None:
        """Shutting down: stop following and stop the timers (replicas stay connected until
        the server closes every connection, after the last writes went out)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.link is not None:
            self.link.stop()

    def save_state(self) -> None:
        """After the last snapshot at shutdown: note where the data stands (a restart within
        the backlog of its primary continues from there)."""
        backlog = self.primary.backlog
        if self.persistence is None or backlog is None or not self.history:
            return
        position = state_file.Position(self.ids.replid, backlog.offset, self.link_session.db.index)
        state_file.save(self.persistence.directory, position)

    def _restore(self) -> None:
        if self.persistence is None:
            return
        position = state_file.take(self.persistence.directory)
        if position is None or position.db >= len(self.state.dbs):
            return
        self.ids.replid = position.replid
        self.primary.backlog = Backlog(self.config.repl_backlog_size, position.offset)
        self.link_session.db = self.state.dbs[position.db]
        self.history = True
        log.info(
            "replication: the data stands at offset %d of %s", position.offset, position.replid
        )

    # -- the stream's source ---------------------------------------------------------------------

    def _ensure_journal(self) -> LogJournal:
        """The journal whose log writes the stream; a node without persistence gets one now."""
        if self.journal is None:
            journal: LogJournal = _journal.LogJournal(self.state.dbs, NoFileLog(), self.loop)
            self.journal = journal
            self.dispatcher.journal = journal
            self.state.journal = journal
            self.on_mode_change()  # keys that expire are now recorded (as DELs)
        return self.journal

    def _activate_backlog(self) -> Backlog:
        backlog = self.primary.backlog
        if backlog is None:
            backlog = self.primary.backlog = Backlog(self.config.repl_backlog_size)
            self.history = True
            if self.master is None:
                self._tap_on()
        return backlog

    def _tap_on(self) -> None:
        journal = self._ensure_journal()
        self._log_seq = journal.log.seq
        journal.log.on_append = self._from_log

    def _tap_off(self) -> None:
        if self.journal is not None:
            self.journal.log.on_append = None

    def _from_log(self, data: bytes) -> None:
        journal = self.journal
        if journal is not None and journal.log.seq != self._log_seq:
            # A new log file starts in database 0 without saying so; the stream must.
            self._log_seq = journal.log.seq
            self.primary.feed(frame(encode_select(0)))
        self.primary.feed(data)

    def _flush_log(self) -> None:
        if self.journal is not None:
            self.journal.flush(check_size=False)

    def _stream_db(self) -> int:
        """The database the stream's next records are for, unless a SELECT says otherwise:
        the log writer's on a primary, the primary's stream's on a replica."""
        if self.master is not None or self.journal is None:
            return self.link_session.db.index
        return self.journal.db.index

    def _mark_db(self) -> None:
        """Put the log's database in the stream, on a primary whose replicas could not know
        it (after a promotion or a restart)."""
        self.primary.feed(frame(encode_select(self._stream_db())))

    # -- following a primary ---------------------------------------------------------------------

    def replicaof(self, host: str | None, port: int) -> Reply:
        if host is None:
            if self.master is not None:
                self._promote()
            return OK
        address = PrimaryAddress(host, port)
        if self.master == address:
            return Status("OK Already connected to specified master")
        self._follow(address)
        return OK

    def _follow(self, address: PrimaryAddress) -> None:
        if self.link is not None:
            self.link.stop()
        self._flush_log()
        self._tap_off()
        self.primary.drop_all()
        dropped = self.held_writes.drop_all()  # this node's replicas will never ack them now
        if dropped:
            log.warning(
                "replication: closed %d client(s) whose writes were not acknowledged", dropped
            )
        if self.primary.backlog is None:
            self.primary.backlog = Backlog(self.config.repl_backlog_size)
        self.master = address
        self.config.replicaof = f"{address.host} {address.port}"
        self.link = ReplicaLinkClient(
            address,
            self,
            listening_port=self.listening_port,
            password=lambda: self.config.masterauth,
            node_id=lambda: self._node_id,
            tls=self._tls_context(),
            timeout=lambda: self.config.repl_timeout,
        )
        self.link.start()
        self.on_mode_change()
        log.info("replication: following the primary at %s", address)

    def _promote(self) -> None:
        if self.link is not None:
            self.link.stop()
            self.link = None
        old = self.master
        self.master = None
        self.config.replicaof = ""
        backlog = self._activate_backlog()
        self._flush_log()
        self.primary.drop_all()  # they reconnect and continue under the new ID
        self.ids.shift(new_replid(), backlog.offset)
        self._tap_on()
        self._mark_db()
        self.history = True
        self.on_mode_change()
        log.info(
            "replication: no longer following %s; now a primary (new ID %s; %s kept up to "
            "offset %d)",
            old,
            self.ids.replid,
            self.ids.replid2,
            self.ids.second_offset - 1,
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        config = self.config
        if config.tls_replication != "yes":
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        if config.tls_ca_cert_file:
            context.load_verify_locations(config.tls_ca_cert_file)
        else:
            context.verify_mode = ssl.CERT_NONE
        if config.tls_cert_file and config.tls_key_file:
            context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
        return context

    # -- the link's handler (kvstore.replication.replica.LinkHandler) ------------------------------

    def psync_position(self) -> tuple[str, int]:
        if not self.history or self.primary.backlog is None:
            return "?", -1
        return self.ids.replid, self.primary.backlog.offset

    def load_copy(self, replid: str, offset: int, data: bytes) -> None:
        try:
            header = snapshot.verify(data)
        except snapshot.SnapshotDamagedError as exc:
            raise LinkError(f"the full copy is damaged: {exc}") from None
        self.primary.drop_all()  # this node's replicas hold the old data
        self._flush_log()
        self._apply([b"FLUSHALL"])
        snapshot.load(data, self.state.dbs, header)
        dbs = self.state.dbs
        self.link_session.db = dbs[header.next_log if header.next_log < len(dbs) else 0]
        self.ids.replid, self.ids.replid2, self.ids.second_offset = replid, NO_ID, -1
        backlog = self.primary.backlog
        if backlog is None:
            backlog = self.primary.backlog = Backlog(self.config.repl_backlog_size)
        backlog.reset(offset)
        self.history = True
        if self.persistence is not None:
            # The log holds FLUSHALL; the keys loaded reach the files with this snapshot.
            with contextlib.suppress(ReplyError):
                self.persistence.bgrewriteaof()

    def continued(self, replid: str) -> None:
        backlog = self.primary.backlog
        if replid != self.ids.replid and backlog is not None:
            self.ids.shift(replid, backlog.offset)
            self.primary.drop_all()  # they learn the new ID when they reconnect

    def apply(self, batch: Batch) -> None:
        for words in batch.records:
            self._apply(words)
        self.primary.feed(batch.data)

    def _apply(self, words: list[bytes]) -> None:
        reply = self.dispatcher.execute(self.link_session, words)
        if isinstance(reply, ReplyError):
            self._apply_errors += 1
            if self._apply_errors <= 10:
                log.error(
                    "a record from the primary failed: %s: %s",
                    words[0].decode("utf-8", "replace"),
                    reply.message,
                )

    def lost_history(self) -> None:
        self.history = False  # damaged: ask for a full copy rather than the same bytes again

    def applied_offset(self) -> int:
        return self.primary.offset

    def link_state_changed(self) -> None:
        link = self.link
        if link is not None and link.up:
            log.info("replication: the link to %s is up", link.address)

    # -- the commands (kvstore.commands.ports.ReplicationControl) ----------------------------------

    def role(self) -> Reply:
        if self.master is None:
            entries: list[Reply] = [list(entry) for entry in self.primary.role_entries()]
            return [b"master", self.primary.offset, entries]
        state = self.link.state if self.link is not None else "connect"
        return [
            b"slave",
            self.master.host.encode(),
            self.master.port,
            state.encode(),
            self.primary.offset if self.history else -1,
        ]

    def wait(self, session: Session, replicas: int, timeout_ms: int) -> Reply:
        if self.master is not None:
            return WAIT_ON_REPLICA
        primary = self.primary
        deliver = session.push
        pending = self.journal is not None and self.journal.pending
        # Inside EXEC WAIT does not block, as in Redis: it counts what is acknowledged now.
        if not pending:
            held = primary.count_acked(primary.offset)
            if held >= replicas or deliver is None or session.in_exec:
                return held
        elif deliver is None or session.in_exec:
            return primary.count_acked(primary.offset)
        assert deliver is not None
        push = deliver

        def arm() -> None:
            # The log has written this iteration's records now: wait for everything so far.
            target = primary.offset
            future = primary.acknowledged(target, replicas)
            timer = self.loop.call_later(timeout_ms / 1000, future.cancel) if timeout_ms else None

            def finish(_: asyncio.Future[int]) -> None:
                if timer is not None:
                    timer.cancel()
                push(primary.count_acked(target))
                session.unblock()  # the requests behind WAIT run now, their replies after it

            future.add_done_callback(finish)

        self.loop.call_soon(arm)  # after the flush the write before WAIT scheduled
        session.block()
        return Replies()

    def replconf(self, session: Session, args: Sequence[bytes]) -> Reply:
        for position in range(1, len(args), 2):
            option, value = args[position].lower(), args[position + 1]
            if option == b"listening-port":
                if not value.isdigit():
                    return ReplyError("ERR value is not an integer or out of range")
                self._ports[session.id] = int(value)
            elif option == b"ack":
                if value.isdigit():
                    self.primary.ack(session, int(value))
                return Replies()  # a replica's acknowledgement gets no reply
            elif option == b"getack":
                return Replies()
            elif option == b"node-id":
                self._node_ids[session.id] = value.decode("utf-8", "replace")
            elif option not in (b"capa", b"ip-address", b"rdb-only", b"rdb-filter-only"):
                name = option.decode("utf-8", "replace")
                return ReplyError(f"ERR Unrecognized REPLCONF option: {name}")
        return OK

    def psync(self, session: Session, replid: str, offset: int) -> Reply:
        if self.master is not None and (self.link is None or not self.link.up):
            return NOMASTERLINK
        if session.peer is None or session.transport != "resp":
            return ReplyError("ERR PSYNC needs a RESP connection")
        self._activate_backlog()
        port = self._ports.pop(session.id, 0)
        node_id = self._node_ids.pop(session.id, "")
        # After this request's batch of replies is written: the stream follows them.
        self.loop.call_soon(self.primary.psync, session, port, replid, offset, node_id)
        return Replies()

    def info(self) -> dict[str, str | int]:
        fields: dict[str, str | int] = {"role": "master" if self.master is None else "slave"}
        if self.master is not None:
            fields.update(self._replica_info())
        fields.update(self.primary.replicas_info())
        backlog = self.primary.backlog
        fields.update(
            {
                "master_failover_state": "no-failover",
                "master_replid": self.ids.replid,
                "master_replid2": self.ids.replid2,
                "master_repl_offset": self.primary.offset,
                "second_repl_offset": self.ids.second_offset,
                "repl_backlog_active": int(backlog is not None),
                "repl_backlog_size": self.config.repl_backlog_size,
                "repl_backlog_first_byte_offset": 0
                if backlog is None
                else backlog.first_byte_offset,
                "repl_backlog_histlen": 0 if backlog is None else backlog.histlen,
            }
        )
        return fields

    def _replica_info(self) -> dict[str, str | int]:
        master, link = self.master, self.link
        assert master is not None
        assert link is not None
        clock = time.monotonic()
        fields: dict[str, str | int] = {
            "master_host": master.host,
            "master_port": master.port,
            "master_link_status": "up" if link.up else "down",
            "master_last_io_seconds_ago": int(clock - link.last_io) if link.up else -1,
            "master_sync_in_progress": int(link.state == "sync"),
            "slave_read_repl_offset": self.primary.offset,
            "slave_repl_offset": self.primary.offset,
        }
        if link.state == "sync":
            fields["master_sync_total_bytes"] = link.sync_total
            fields["master_sync_read_bytes"] = link.sync_read
            fields["master_sync_left_bytes"] = link.sync_total - link.sync_read
            percent = 100.0 * link.sync_read / link.sync_total if link.sync_total else 0.0
            fields["master_sync_perc"] = f"{percent:.2f}"
            fields["master_sync_last_io_seconds_ago"] = int(clock - link.last_io)
        if not link.up:
            fields["master_link_down_since_seconds"] = int(clock - link.down_since)
        fields["slave_priority"] = 100
        fields["slave_read_only"] = int(self.config.replica_read_only == "yes")
        fields["replica_announced"] = 1
        return fields

    def stats(self) -> dict[str, str | int]:
        primary = self.primary
        return {
            "sync_full": primary.sync_full,
            "sync_partial_ok": primary.sync_partial_ok,
            "sync_partial_err": primary.sync_partial_err,
        }

    # -- what clients may do ---------------------------------------------------------------------

    @property
    def is_replica(self) -> bool:
        return self.master is not None

    @property
    def guards_commands(self) -> bool:
        """Whether commands must be wrapped with :meth:`wrap_table`'s checks now."""
        config = self.config
        if self.master is not None:
            return config.replica_read_only == "yes" or config.replica_serve_stale_data == "no"
        return config.min_replicas_to_write > 0 or self.held_writes.among is not None

    def wrap_table(self, table: dict[bytes, Command]) -> dict[bytes, Command]:
        """``table`` with writes refused on a read-only replica (READONLY) or a primary with
        too few replicas in reach (NOREPLICAS), and reads on a replica whose link is down
        refused under ``replica-serve-stale-data no`` (MASTERDOWN)."""
        return guarded_table(table, self._write_refusal, self._stale_refusal)

    def _write_refusal(self, session: Session) -> ReplyError | None:
        if session is self.link_session:
            return None
        config = self.config
        if self.master is not None:
            if config.replica_read_only == "yes":
                return READONLY
            return self._stale_refusal(session)
        if config.min_replicas_to_write > 0 and (
            self.primary.good_replicas(config.min_replicas_max_lag) < config.min_replicas_to_write
        ):
            return NOREPLICAS
        if self.held_writes.among is not None:
            session.awaits_ack = True  # the connection holds this read's replies for it
        return None

    def _stale_refusal(self, session: Session) -> ReplyError | None:
        if (
            self.master is not None
            and self.config.replica_serve_stale_data == "no"
            and not self._link_up
            and session is not self.link_session
        ):
            return MASTERDOWN
        return None

    @property
    def _link_up(self) -> bool:
        return self.link is not None and self.link.up

    def expired(self, key: bytes, db: Keyspace) -> None:
        """A key reached its deadline and was removed: the log (and so the stream) says so."""
        if self.journal is not None:
            self.journal.record_expired(key, db)

    # -- synchronous acknowledgement (the cluster's failover relies on it) ----------------------

    def announce_node_id(self, node_id: str) -> None:
        """As a replica, announce ``node_id`` to the primary in the handshake (REPLCONF
        node-id; from the next connection on). Empty: announce none."""
        self._node_id = node_id

    def hold_writes_for(self, replicas: frozenset[str] | None) -> None:
        """Hold the reply to every write (and the later replies of its connection) until a
        replica named in ``replicas`` (``ip:port`` or announced node ID) acknowledged the
        stream offset the write reached; None: reply at once. Held replies are checked
        again against the new set at once."""
        was_on = self.held_writes.among is not None
        if replicas is not None and self.master is None:
            self._activate_backlog()  # writes must reach a stream to be acknowledged
        self.held_writes.set_among(replicas)
        if was_on != (replicas is not None):
            self.on_mode_change()  # writes are marked (or no longer) by the command guards

    def apply_sync_replicas(self) -> None:
        """``sync-replicas`` (at start and at CONFIG SET); in cluster mode on etcd the
        cluster calls :meth:`hold_writes_for` itself."""
        config = self.config
        if config.cluster_enabled and config.cluster_etcd_endpoints:
            return
        names = config.sync_replicas
        self.hold_writes_for(frozenset(names) if names else None)

    def sync_replicas(self) -> dict[str, int]:
        """Node ID -> acknowledged offset of each connected replica that announced one."""
        return self.primary.acked_by_node()

    @property
    def offset(self) -> int:
        """This node's current stream offset (``master_repl_offset``)."""
        return self.primary.offset

    def oldest_held_write(self) -> float | None:
        """Seconds the longest-held write reply has waited; None when none waits."""
        return self.held_writes.oldest()

    def drop_held_writes(self) -> int:
        """Close every client connection holding a write reply (this node was deposed:
        those writes will never be acknowledged); how many."""
        return self.held_writes.drop_all()

    def hold_for_ack(self, waiter: AckWaiter) -> bool:
        """A read of ``waiter``'s ran a write under synchronous acknowledgement: whether its
        replies must wait (not when nothing reached the stream, or after a switch to None)."""
        journal = self.journal
        if self.held_writes.among is None or journal is None or not journal.pending:
            return False
        self.held_writes.hold(waiter)
        return True

    # -- upkeep ----------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._ticks += 1
        config = self.config
        period = config.repl_ping_replica_period
        ping = self.master is None and period > 0 and self._ticks % period == 0
        self.primary.tick(ping, config.repl_timeout)
        self._timer = self.loop.call_later(1.0, self._tick)

    def resize_backlog(self, size: int) -> None:
        if self.primary.backlog is not None:
            self.primary.backlog.resize(size)

    # -- cluster mode's failover (kvstore.cluster.replicas.ShardReplication) ---------------------

    def follow(self, host: str, port: int) -> None:
        """Follow the primary at ``host:port`` (the shard's leader), as REPLICAOF does."""
        self.replicaof(host, port)

    def promote(self) -> None:
        """Stop following and serve as the primary, continuing the stream (replid2)."""
        self.replicaof(None, 0)
