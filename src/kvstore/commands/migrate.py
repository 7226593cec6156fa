"""MIGRATE: move keys to another server (kvstore or Redis), as Redis 7.0 does, without ever
waiting inside the command.

Redis's MIGRATE blocks the whole server while it talks to the target. Here the command reads
the values (DUMP payloads) and builds the requests, then hands the network part to the server
(:class:`~kvstore.commands.ports.Transfer`) and blocks only its own client, as WAIT does.
From the moment the values are read until the target has answered and the keys are deleted
here, writes to those keys wait (:meth:`~kvstore.commands.pause_state.ClientPause.hold_keys`:
the CLIENT PAUSE machinery, narrowed to the keys in flight), so none is lost; everything else
runs meanwhile. The deletion is a DEL of each key taken, run for the client, so the log,
replicas, keyspace notifications and tracking see it, as Redis propagates MIGRATE as a DEL.

Replies and error texts are Redis's: ``+OK``, ``+NOKEY`` when no key exists, ``IOERR error or
timeout connecting to the client`` / ``... writing to target instance`` / ``... reading to
target instance``, and ``ERR Target instance replied with error: <its error>``. In cluster
mode the keys go as RESTORE-ASKING (RESTORE that counts as sent after ASKING), so the target
takes them while it imports their slot.

Unlike Redis, MIGRATE cannot run inside MULTI, a script or a text-protocol session (the
reply must wait for the network, and those cannot wait): it is refused there.
"""

from __future__ import annotations

from kvstore.commands.context import Session
from kvstore.commands.dump import payload
from kvstore.commands.table import (
    SYNTAX_ERROR,
    Args,
    KeySpec,
    command,
    parse_int,
)
from kvstore.protocol.replies import OK, Replies, Reply, ReplyError, Status
from kvstore.protocol.resp import encode_request

NOKEY = Status("NOKEY")
KEYS_NOT_EMPTY = (
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
)
CANNOT_WAIT = "ERR MIGRATE cannot run inside MULTI, a script or a text-protocol session"
CONNECT_ERROR = "IOERR error or timeout connecting to the client"


class Options:
    """MIGRATE's arguments after the first five, as Redis parses them."""

    def __init__(self, args: Args) -> None:
        self.copy = self.replace = False
        self.username: bytes | None = None
        self.password: bytes | None = None
        self.keys = [args[3]]
        index = 6
        while index < len(args):
            option = args[index].lower()
            more = len(args) - 1 - index
            if option == b"copy":
                self.copy = True
            elif option == b"replace":
                self.replace = True
            elif option == b"auth":
                if not more:
                    raise ReplyError(SYNTAX_ERROR)
                index += 1
                self.password = args[index]
            elif option == b"auth2":
                if more < 2:
                    raise ReplyError(SYNTAX_ERROR)
                self.username, self.password = args[index + 1], args[index + 2]
                index += 2
            elif option == b"keys":
                if args[3]:
                    raise ReplyError(KEYS_NOT_EMPTY)
                self.keys = list(args[index + 1 :])
                break
            else:
                raise ReplyError(SYNTAX_ERROR)
            index += 1

    def auth_request(self) -> bytes:
        if self.password is None:
            return b""
        user = [] if self.username is None else [self.username]
        return encode_request([b"AUTH", *user, self.password])


@command(
    "migrate",
    -6,
    "write movablekeys",
    group="generic",
    summary="Move keys to another server (their values and time to live), then delete them here.",
    keys=(3, 3, 1),
    key_specs=(
        KeySpec(("RW", "access", "delete"), 3),
        KeySpec(("RW", "access", "delete", "incomplete"), -2, -1, keyword="KEYS"),
    ),
    tips="nondeterministic_output",
    acl="dangerous",
)
def migrate(session: Session, args: Args) -> Reply:
    options = Options(args)
    timeout = parse_int(args[5])
    dbid = parse_int(args[4])
    if timeout <= 0:
        timeout = 1000
    db = session.db
    moving: list[tuple[bytes, bytes, int | None]] = []
    for key in options.keys:
        entry = db.entry(key)
        if entry is not None:
            moving.append((key, *entry))
    if not moving:
        return NOKEY
    server = session.server
    transfer = server.transfer
    if transfer is None or session.on_unblocked is None or session.in_exec:
        raise ReplyError(CANNOT_WAIT)
    restore = b"RESTORE-ASKING" if server.cluster is not None else b"RESTORE"
    now = db.clock()
    parts = [options.auth_request(), encode_request([b"SELECT", str(dbid).encode()])]
    keys = []
    for key, value, deadline in moving:
        ttl = 0 if deadline is None else max(deadline - now, 1)
        tail = [b"REPLACE"] if options.replace else []
        parts.append(encode_request([restore, key, str(ttl).encode(), payload(value), *tail]))
        keys.append(key)
    host = args[1].decode("utf-8", "replace")
    port = int(args[2]) if args[2].isdigit() and len(args[2]) < 6 else 0  # atoi(), as Redis
    server.pause.hold_keys(keys)
    session.block()

    def done(lines: list[bytes], failure: str) -> None:
        try:
            reply = _finish(session, options, keys, lines, failure)
        finally:
            server.pause.release_keys(keys)
        if session.push is not None:
            session.push(reply)
        session.unblock()

    replies = len(keys) + 1 + bool(options.password)
    transfer.send(
        host, port, timeout_ms=timeout, request=b"".join(parts), replies=replies, done=done
    )
    return Replies()


def _finish(
    session: Session, options: Options, keys: list[bytes], lines: list[bytes], failure: str
) -> Reply:
    """The target answered (``lines``, as many as were read before ``failure``, if any):
    delete the keys it took (unless COPY), and MIGRATE's reply."""
    if failure == "connecting":
        return ReplyError(CONNECT_ERROR)
    head = 1 + bool(options.password)
    setup = [line for line in lines[:head] if line[:1] == b"-"]
    taken = []
    error: bytes | None = None
    for key, line in zip(keys, lines[head:], strict=False):
        if setup or line[:1] == b"-":
            error = error or (setup[0] if setup else line)
        else:
            taken.append(key)
    runner = session.server.runner
    if not options.copy and runner is not None:
        for key in taken:  # one DEL each: in cluster mode a key that expired meanwhile
            runner.execute(session, [b"DEL", key])  # would make one DEL of all a TRYAGAIN
    if error is not None:
        return ReplyError(
            "ERR Target instance replied with error: " + error[1:].decode("utf-8", "replace")
        )
    if failure:
        return ReplyError(f"IOERR error or timeout {failure} to target instance")
    return OK
