"""One client connection: detect its protocol, parse, dispatch, write, apply back-pressure.

Callbacks stay synchronous and short: each chunk received is parsed into whole requests, every
request is run through the dispatcher, and all their replies leave in one write. Nothing here
knows what a command does. While the log has records waiting, replies are kept as the
connection's own pending output and written when the log holds them (see
:mod:`kvstore.server.held`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TypeVar, cast

from kvstore.commands import Session
from kvstore.commands.pause import holds, writes_held_keys
from kvstore.commands.pause_state import ClientPause
from kvstore.protocol import Reply, ReplyError, RequestLimits, encode_reply, make_request_parser
from kvstore.protocol.resp_requests import RequestDecoder
from kvstore.protocol.text import (
    MAX_LINE,
    Line,
    LineParser,
    TextRequestError,
    encode_text_reply,
    error_line,
    parse_request,
    render_text,
)
from kvstore.server.context import ConnectionContext
from kvstore.server.guards import MAX_CLIENTS_REPLY, looks_like_http
from kvstore.server.held import HeldReplies
from kvstore.server.protection import DENIED, limits_before_auth

#: Pending output past which the client's input is no longer read, until it catches up.
OUTPUT_HIGH_WATER = 256 * 1024
OUTPUT_LOW_WATER = 64 * 1024
#: Replies gathered from one packet's requests are written out once they pass this size, so a
#: pipeline of large reads is checked against the output limit as it goes, not at its end.
REPLY_FLUSH_SIZE = 1024 * 1024
#: Bytes of requests a client may send while CLIENT PAUSE holds its requests, before its
#: input is no longer read.
POSTPONED_LIMIT = 1024 * 1024

#: A request as its protocol's parser gives it (RESP: the arguments; text: a line).
Request = TypeVar("Request")


def _address(info: object) -> str:
    if isinstance(info, tuple) and len(info) >= 2:
        host = str(info[0])
        return f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}"
    return str(info or "")


def _ignore(data: bytes) -> None:
    pass


class ClientConnection(asyncio.Protocol):
    def __init__(self, context: ConnectionContext, text_first: bool = True) -> None:
        self._context = context
        #: A connection that starts with a line of words speaks the text line protocol (else
        #: RESP, reading it as Redis's inline request): per listener, see docs/protocol.md.
        self._text_first = text_first
        self._dispatcher = context.dispatcher
        self._registry = context.registry
        self._transport: asyncio.Transport | None = None
        self.session: Session = Session(context.state)
        self._resp_parser: RequestDecoder | None = None
        self._line_parser: LineParser | None = None
        self._limits_after_auth = RequestLimits()
        self._feed: Callable[[bytes], None] = self._detect
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: Where replies wait for the log (None with persistence off), and the replies this
        #: connection keeps meanwhile, each with whether to close after it (None: none kept).
        self._gate = context.held
        self._held: list[tuple[bytes, bool]] | None = None
        #: Replies waiting for a replica to acknowledge a write (synchronous acknowledgement:
        #: see kvstore.replication.held_writes), each with whether to close after it.
        self._unacked: list[tuple[bytes, bool]] | None = None
        #: Meanwhile, what the client sends is kept unparsed (reading goes on, so a client
        #: that leaves is noticed) and fed, once the replies are out, to ``_feed_after_ack``.
        self._unread: list[bytes] = []
        self._unread_size = 0
        self._feed_after_ack: Callable[[bytes], None] = _ignore
        #: The registry's coarse clock at the last read: the idle sweep closes clients whose
        #: value is too old (``--timeout``).
        self.last_read = context.registry.now
        self._text_head = b""
        self._fd = -1
        #: This client's buffers as last added to the server's ``clients_memory``.
        self._counted = 0
        #: The server's clock when the output passed the soft limit (None: under it).
        self._soft_since: float | None = None
        #: The replies of the requests being run (None between batches): a message pushed to
        #: this connection by its own request goes there, before that request's reply.
        self._batch: list[bytes] | None = None
        #: CLIENT PAUSE, and the requests this connection holds for it to end (None: none).
        self._pause = context.state.pause
        self._postponed: list[list[bytes]] | None = None
        #: A text-protocol connection's lines held while MIGRATE moves a key they write.
        self._postponed_lines: list[Line] | None = None

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(OUTPUT_HIGH_WATER, OUTPUT_LOW_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        peername = transport.get_extra_info("peername")
        self.session.addr = _address(peername)
        self.session.laddr = _address(transport.get_extra_info("sockname"))
        if self._context.admission.refuses(peername, self.session.addr):
            self._feed = _ignore  # nothing it sends is run
            self._transport.write(DENIED)
            self._transport.close()
            return
        if not self._registry.register(self):
            self._feed = self._discard
            self._transport.write(MAX_CLIENTS_REPLY)
            self._transport.close()
            return
        self.session.peer = self
        self._fd = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        self.last_read = self._registry.now
        self._feed(data)

    def _discard(self, data: bytes) -> None:
        pass

    # -- as CLIENT LIST and CLIENT KILL see it (kvstore.commands.ports.ClientPeer) -------------

    @property
    def fd(self) -> int:
        return self._fd

    def idle_seconds(self) -> int:
        return int(self._registry.now - self.last_read)

    def buffer_sizes(self) -> tuple[int, int]:
        parser = self._resp_parser
        transport = self._transport
        output = 0 if transport is None else transport.get_write_buffer_size()
        output += self._kept_size()
        return (parser.pending if parser is not None else len(self._text_head)), output

    def kill(self) -> None:
        self._feed = self._discard  # nothing more it sent is run
        self.close()

    def push(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._send(data)

    def eof_received(self) -> bool:
        return False  # close once the replies already written are flushed

    def connection_lost(self, exc: Exception | None) -> None:
        registry = self._registry
        registry.unregister(self)
        if self._unacked is not None:
            self._unacked, self._unread = None, []
            replication = self._context.replication
            if replication is not None:
                replication.held_writes.forget(self)
        if self._postponed is not None or self._postponed_lines is not None:
            self._postponed = self._postponed_lines = None
            self._context.paused.forget(self)
        parser = self._resp_parser
        if parser is not None:
            registry.dropped_request_bytes += parser.pending + parser.discarded
        # ``_feed`` holds a bound method, a cycle through this object: only the cyclic garbage
        # collector would free it, and with it the parser's partial request (up to the query
        # buffer limit), which a client sending bytes alone never prompts it to do. Dropping
        # both here gives the memory back as the client leaves.
        self._feed = _ignore
        self._resp_parser = None
        self._line_parser = None
        self._text_head = b""
        if self._counted:
            registry.add_clients_memory(-self._counted)
            self._counted = 0
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        # The client is not reading its replies: stop reading its requests until it does.
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    # -- protocols ---------------------------------------------------------------------------

    def _detect(self, data: bytes) -> None:
        """The first byte decides: ``*`` starts RESP; anything else is a line of words, which
        starts the text protocol (or, where the listener says so, RESP read as Redis reads an
        inline request). Empty lines before it decide nothing: they are skipped, as Redis does."""
        data = data.lstrip(b"\r\n")
        if not data:
            return
        if data[:1] == b"*":
            self._start_resp()
            self._feed(data)
            return
        self._feed = self._feed_head
        self._feed(data)

    def _start_resp(self) -> None:
        self.session.transport = "resp"
        self.session.push = self.push_message
        self.session.on_unblocked = self.resume_postponed
        context = self._context
        self._resp_parser = make_request_parser(
            self._registry.request_limits, use_hiredis=context.use_hiredis
        )
        self._feed = self._feed_resp
        if not self.session.authenticated:  # small requests only, until AUTH succeeds
            self._limits_after_auth = self._resp_parser.limits
            self._resp_parser.limits = limits_before_auth(self._limits_after_auth)
            self._feed = self._feed_resp_before_auth

    def _start_text(self) -> None:
        self.session.transport = "text"
        self._line_parser = LineParser()
        self._feed = self._feed_text

    def _feed_head(self, data: bytes) -> None:
        """Hold a connection's first line of words until it is whole: HTTP is cut off at once."""
        head = self._text_head + data
        end = head.find(b"\n")
        if end < 0 and len(head) <= MAX_LINE:
            self._text_head = head
            return
        self._text_head = b""
        if looks_like_http(head[: end if end >= 0 else 200].rstrip(b"\r")):
            self._registry.refuse_http(self.session.addr)
            self._feed = self._discard
            cast(asyncio.Transport, self._transport).abort()
            return
        if self._text_first:
            self._start_text()
        else:
            self._start_resp()
        self._feed(head)

    def _feed_resp(self, data: bytes) -> None:
        parser = self._resp_parser
        assert parser is not None  # asserts, not cast(): a cast is a call on every read
        frames = parser.feed(data)
        if frames and (self._pause.holding or self._postponed is not None):
            if self._answer_while_paused(frames):
                return
        elif frames and self._answer(frames, self._dispatcher.answer):
            return
        if parser.error is not None:
            self._close_with_error(encode_reply(ReplyError("ERR " + parser.error.message)))

    def apply_limits(self, limits: RequestLimits) -> None:
        """CONFIG SET changed the parsers' limits: this connection's follow at once (once it
        has authenticated; before, the small limits stay)."""
        self._limits_after_auth = limits
        parser = self._resp_parser
        if parser is not None and self._feed != self._feed_resp_before_auth:
            parser.limits = limits

    def _feed_resp_before_auth(self, data: bytes) -> None:
        self._feed_resp(data)
        parser = self._resp_parser
        if self.session.authenticated and parser is not None:  # the usual limits and path now
            parser.limits = self._limits_after_auth
            if self._unacked is None:
                self._feed = self._feed_resp
            else:
                self._feed_after_ack = self._feed_resp

    def _feed_text(self, data: bytes) -> None:
        parser = cast(LineParser, self._line_parser)
        lines = parser.feed(data)
        if lines and (self._pause.held_keys or self._postponed_lines is not None):
            if self._answer_lines_while_held(lines):
                return
        elif lines and self._answer(lines, self._run_lines):
            return
        if parser.error is not None:
            self._close_with_error(error_line(parser.error.message))

    def _run_lines(
        self, session: Session, lines: list[Line], start: int, out: list[bytes], flush_size: int
    ) -> int:
        """The text protocol's :meth:`Dispatcher.answer`: run ``lines`` from ``start``, each
        reply appended to ``out``, until a reply that ends the session or the replies pass
        ``flush_size`` bytes; the index of the first line not run."""
        self._dispatcher.start_clock()
        index = start
        size = 0
        while index < len(lines):
            reply = self._run_line(session, lines[index])
            index += 1
            if session.muted and session.drops_reply(reply):  # CLIENT REPLY OFF or SKIP
                if session.close_after_reply:
                    break
                continue
            if session.close_after_reply:
                if not session.reply_suppressed:
                    out.append(reply)
                break
            out.append(reply)
            size += len(reply)
            if size > flush_size:
                break
        return index

    def _run_line(self, session: Session, line: Line) -> bytes:
        """Run one text-protocol line and give its reply as the line protocol writes it (its
        wording depends on the request, so it is encoded here, not by the dispatcher)."""
        try:
            request = parse_request(line.text)
        except TextRequestError as exc:
            return encode_text_reply([error_line(str(exc))], line.crlf)
        reply = request.render(self._dispatcher.execute_next(session, request.args))
        if request.goodbye:
            session.close_after_reply = True
        return encode_text_reply(render_text(reply), line.crlf)

    def _answer(
        self,
        requests: list[Request],
        run: Callable[[Session, list[Request], int, list[bytes], int], int],
    ) -> bool:
        """Answer ``requests`` in order, in as few writes as can be: ``run`` (the dispatcher's
        :meth:`~kvstore.commands.dispatch.Dispatcher.answer`, or :meth:`_run_lines`) runs
        them and appends their replies' pieces to one list, joined and written once; or as
        they pass REPLY_FLUSH_SIZE (checked against the output limit as it goes). After a
        reply that ends the session (QUIT; SHUTDOWN, whose reply is suppressed) what was
        gathered is written and the connection closed. True when the connection is done
        (closing, or cut off).

        Both protocols go through this one loop, and it is every read's path: ``run`` is
        called once per read, and the requests' own loop is the dispatcher's (compiled), so
        keep it so."""
        session = self.session
        transport = self._transport
        assert transport is not None
        out: list[bytes] = []
        self._batch = out  # where a push to this client during the batch goes (push())
        count = len(requests)
        done = run(session, requests, 0, out, REPLY_FLUSH_SIZE)
        while done < count and not session.close_after_reply:  # large replies: write as it goes
            if session.awaits_ack:  # a write among them: these wait with its reply
                self._await_ack()
            if self._write_checked(out):
                return True
            out = []
            self._batch = out
            done = run(session, requests, done, out, REPLY_FLUSH_SIZE)
        self._batch = None
        if session.awaits_ack:  # a write under synchronous acknowledgement
            self._await_ack()
        if session.close_after_reply:
            if not session.blocked:
                self._send(b"".join(out), close=True)
                return True
            self._keep_behind_block(requests[done:])
        if out:
            payload = b"".join(out)
            gate = self._gate
            if self._unacked is not None:
                self._unacked.append((payload, False))
            elif gate is not None and (gate.waiting or self._held is not None):  # _send, inlined
                self._hold(payload, False)
            else:
                transport.write(payload)
            if len(payload) > OUTPUT_LOW_WATER and self._output_over_limit():
                return True
        return False

    def push_message(self, message: Reply) -> None:
        """Write a message pushed to this client (pub/sub) outside any reply: after the
        replies already written, before the reply of a request of its own being run."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        payload = encode_reply(message, self.session.protocol)
        batch = self._batch
        if batch is not None:
            batch.append(payload)
            return
        self._send(payload)
        if transport.get_write_buffer_size() > OUTPUT_LOW_WATER:
            self._output_over_limit()

    def _write_checked(self, replies: list[bytes]) -> bool:
        """Write ``replies``; True if that put the client over the output limit (it is gone)."""
        self._send(b"".join(replies))
        return self._output_over_limit()

    def check_output(self) -> None:
        """Count this client's buffers into the server's memory and apply the output limits
        (the server's periodic sweep)."""
        if self._transport is not None and not self._transport.is_closing():
            self._output_over_limit()

    def _output_over_limit(self) -> bool:
        """Disconnect the client if its unsent replies have passed the output limit (hard, or
        soft for long enough): it is not reading them, and the server must not hold them for
        it. Either way its buffers are counted as the server's memory."""
        transport = cast(asyncio.Transport, self._transport)
        pending = transport.get_write_buffer_size()
        pending += self._kept_size()  # replies waiting for the log or a replica count too
        parser = self._resp_parser
        buffered = pending + (parser.pending if parser is not None else 0)
        registry = self._registry
        if buffered != self._counted:
            registry.add_clients_memory(buffered - self._counted)
            self._counted = buffered
        subscribed = self.session.subscriptions is not None
        limit = registry.pubsub_output_limit if subscribed else registry.output_limit
        if limit.hard and pending > limit.hard:
            which = f"hard limit {limit.hard}"
        elif limit.soft and pending > limit.soft:
            now = registry.now
            if self._soft_since is None:
                self._soft_since = now
                return False
            if now - self._soft_since <= limit.soft_seconds:
                return False
            which = f"soft limit {limit.soft} for over {limit.soft_seconds}s"
        else:
            self._soft_since = None
            return False
        self._feed = self._discard
        registry.output_overflow(self.session.addr, pending, which)
        transport.abort()
        return True

    def _close_with_error(self, message: bytes) -> None:
        self._registry.protocol_error(self.session.addr)
        self._send(message, close=True)

    def _send(self, payload: bytes, close: bool = False) -> None:
        """Write ``payload`` (then close), after the log holds the writes it answers."""
        transport = cast(asyncio.Transport, self._transport)
        unacked = self._unacked
        if unacked is not None:
            unacked.append((payload, close))
            if close:
                self._feed_after_ack = self._discard
            return
        gate = self._gate
        if gate is not None and (gate.waiting or self._held is not None):
            self._hold(payload, close)
            return
        transport.write(payload)
        if close:
            transport.close()

    # -- requests held by CLIENT PAUSE (kvstore.server.paused) ---------------------------------

    def _answer_while_paused(self, frames: list[list[bytes]]) -> bool:
        """Run ``frames`` one by one until the pause holds one: that one and the rest are
        kept until the pause ends. Reading goes on (a client that leaves is noticed) until
        POSTPONED_LIMIT bytes of requests are kept. True when the connection is done
        (closing, or cut off)."""
        postponed = self._postponed
        if postponed is not None:  # already holding: these wait behind
            postponed.extend(frames)
            if sum(len(arg) for args in postponed for arg in args) > POSTPONED_LIMIT:
                cast(asyncio.Transport, self._transport).pause_reading()
            return False
        for index, args in enumerate(frames):
            if holds(self._pause, self.session, args):
                self._postponed = frames[index:]
                self._context.paused.wait(self)
                return False
            if self._answer([args], self._dispatcher.answer):
                return True
            if self._postponed is not None:  # a blocking command: the rest wait behind it
                self._postponed.extend(frames[index + 1 :])
                return False
        return False

    def _answer_lines_while_held(self, lines: list[Line]) -> bool:
        """The text protocol's :meth:`_answer_while_paused`: CLIENT PAUSE holds none of its
        requests (docs/protocol.md), but a write to a key MIGRATE is moving waits as a RESP
        client's does, and the lines after it with it, so that no write is lost."""
        postponed = self._postponed_lines
        if postponed is not None:
            postponed.extend(lines)
            if sum(len(line.text) for line in postponed) > POSTPONED_LIMIT:
                cast(asyncio.Transport, self._transport).pause_reading()
            return False
        for index, line in enumerate(lines):
            if self._pause.held_keys and _writes_held_keys(self._pause, self.session, line):
                self._postponed_lines = lines[index:]
                self._context.paused.wait(self)
                return False
            if self._answer([line], self._run_lines):
                return True
        return False

    def resume_postponed(self) -> None:
        """The pause ended, or a blocking command answered: run the requests kept, then read
        again."""
        if self._postponed_lines is not None:
            lines, self._postponed_lines = self._postponed_lines, None
            transport = self._transport
            if transport is None or transport.is_closing():
                return
            if not self._answer_lines_while_held(lines) and self._postponed_lines is None:
                transport.resume_reading()
            return
        if self.session.blocked:
            return  # still waiting for a blocking command (WAIT): its answer resumes them
        frames, self._postponed = self._postponed, None
        transport = self._transport
        if frames is None or transport is None or transport.is_closing():
            return
        if not self._answer_while_paused(frames) and self._postponed is None:
            transport.resume_reading()

    # -- a blocking command (WAIT) -----------------------------------------------------------

    def _keep_behind_block(self, rest: list[Request]) -> None:
        """A command answers later (``session.block()``): keep the requests after it, and
        those still to come, until it has (``session.unblock()`` calls
        :meth:`resume_postponed`), as Redis blocks a client: replies stay in request order."""
        session = self.session
        session.close_after_reply = False
        session.reply_suppressed = False
        self._postponed = cast(list[list[bytes]], list(rest))

    # -- replies waiting for the log ---------------------------------------------------------

    def _hold(self, payload: bytes, close: bool) -> None:
        """Keep ``payload`` until the log holds the writes it answers (and the replies kept
        before it are written)."""
        held = self._held
        if held is None:
            self._held = [(payload, close)]
            cast(HeldReplies, self._gate).hold(self)
        else:
            held.append((payload, close))

    def release_held(self) -> None:
        """The log holds every write answered so far: write what was kept, in order."""
        held, self._held = self._held, None
        transport = self._transport
        if held is None or transport is None:
            return
        for payload, close in held:
            if transport.is_closing():
                break
            transport.write(payload)
            if close:
                transport.close()

    def _kept_size(self) -> int:
        """Bytes of replies kept for the log or for a replica's acknowledgement."""
        size = 0
        for kept in (self._held, self._unacked):
            if kept is not None:
                size += sum(len(payload) for payload, _ in kept)
        return size

    # -- replies waiting for a replica's acknowledgement ---------------------------------------

    def _await_ack(self) -> None:
        """This read ran a write that a replica must acknowledge first: keep its replies and
        every later one, and run no more requests until then (as WAIT)."""
        self.session.awaits_ack = False
        replication = self._context.replication
        if replication is None or not replication.hold_for_ack(self):
            return
        if self._unacked is None:
            self._unacked = []
            self._feed_after_ack, self._feed = self._feed, self._keep_unread

    def _keep_unread(self, data: bytes) -> None:
        self._unread.append(data)
        self._unread_size += len(data)
        if self._unread_size > POSTPONED_LIMIT:
            cast(asyncio.Transport, self._transport).pause_reading()

    def release_acked(self) -> None:
        """The writes answered so far are acknowledged: write what was kept, in order (after
        the log holds them, as any reply), then run what the client sent meanwhile."""
        kept, self._unacked = self._unacked, None
        if kept is None:
            return
        self._feed, self._feed_after_ack = self._feed_after_ack, _ignore
        unread, self._unread, self._unread_size = self._unread, [], 0
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for payload, close in kept:
            self._send(payload, close)
        if unread and not transport.is_closing():
            self._feed(b"".join(unread))  # may start to wait again
            if self._unacked is None and self._postponed is None:
                transport.resume_reading()

    # -- shutdown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close after the replies already written are flushed."""
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


def _writes_held_keys(pause: ClientPause, session: Session, line: Line) -> bool:
    try:
        args = parse_request(line.text).args
    except TextRequestError:
        return False  # answered at once with its error
    return writes_held_keys(pause, session, args)
