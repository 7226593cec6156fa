"""Connection and introspection commands: what clients send when they connect."""

from __future__ import annotations

import fnmatch

from kvstore.commands.auth import HELLO_NOAUTH, authenticate
from kvstore.commands.context import VERSION, Session
from kvstore.commands.control import config_set
from kvstore.commands.pause import client_pause, client_unpause
from kvstore.commands.pubsub import refresh_context
from kvstore.commands.table import (
    SUBCOMMAND_TABLES,
    SYNTAX_ERROR,
    Args,
    Subcommands,
    command,
    dispatch_subcommand,
    parse_int,
)
from kvstore.commands.tracking import (
    client_caching,
    client_getredir,
    client_tracking,
    client_trackinginfo,
)
from kvstore.protocol.replies import OK, PONG, Reply, ReplyError


@command(
    "ping",
    -1,
    "fast",
    group="connection",
    summary="Check the connection.",
    tips="request_policy:all_shards response_policy:all_succeeded",
)
def ping(session: Session, args: Args) -> Reply:
    if len(args) > 2:
        raise ReplyError("ERR wrong number of arguments for 'ping' command")
    if session.subscriptions is not None and session.protocol == 2:
        return [b"pong", args[1] if len(args) == 2 else b""]
    return args[1] if len(args) == 2 else PONG


@command("echo", 2, "loading stale fast", group="connection", summary="Return the given string.")
def echo(session: Session, args: Args) -> Reply:
    return args[1]


@command(
    "quit",
    -1,
    "noscript loading stale fast noauth allow_busy",
    group="connection",
    summary="Close the connection.",
)
def quit_(session: Session, args: Args) -> Reply:
    session.close_after_reply = True
    return OK


def _hello_reply(session: Session) -> dict[bytes, Reply]:
    return {
        b"server": b"kvstore",
        b"version": VERSION.encode(),
        b"proto": session.protocol,
        b"id": session.id,
        b"mode": b"standalone" if session.server.cluster is None else b"cluster",
        b"role": b"master",
        b"modules": [],
    }


@command(
    "hello",
    -1,
    "noscript loading stale fast noauth allow_busy",
    group="connection",
    summary="Handshake: choose the protocol version, authenticate, name the connection.",
)
def hello(session: Session, args: Args) -> Reply:
    protocol = session.protocol
    name: bytes | None = None
    credentials: tuple[bytes, bytes] | None = None
    if len(args) > 1:
        protocol = parse_int(args[1], "ERR Protocol version is not an integer or out of range")
        if protocol not in (2, 3):
            raise ReplyError("NOPROTO unsupported protocol version")
        i = 2
        while i < len(args):
            option = args[i].lower()
            if option == b"auth" and i + 2 < len(args):
                credentials = (args[i + 1], args[i + 2])
                i += 3
            elif option == b"setname" and i + 1 < len(args):
                name = _checked_name(args[i + 1])
                i += 2
            else:
                raise ReplyError(
                    f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'"
                )
    if credentials is not None:
        authenticate(session, *credentials)
    if not session.authenticated:
        raise ReplyError(HELLO_NOAUTH)
    session.protocol = protocol
    if session.subscriptions is not None:
        refresh_context(session)
    if name is not None:
        session.name = name
    return _hello_reply(session)


@command(
    "auth",
    -2,
    "noscript loading stale fast noauth allow_busy",
    group="connection",
    summary="Authenticate the connection.",
)
def auth(session: Session, args: Args) -> Reply:
    if len(args) > 3:
        raise ReplyError(SYNTAX_ERROR)
    if len(args) == 2:
        authenticate(session, None, args[1])
    else:
        authenticate(session, args[1], args[2])
    return OK


# -- CLIENT ---------------------------------------------------------------------------------------


def _checked_name(name: bytes) -> bytes:
    if any(byte <= 0x20 or byte > 0x7E for byte in name):
        raise ReplyError("ERR Client names cannot contain spaces, newlines or special characters.")
    return name


def _client_id(session: Session, args: Args) -> Reply:
    return session.id


def _client_setname(session: Session, args: Args) -> Reply:
    session.name = _checked_name(args[2])
    return OK


def _client_getname(session: Session, args: Args) -> Reply:
    return session.name or None


def _client_setinfo(session: Session, args: Args) -> Reply:
    attribute = args[2].lower()
    if attribute == b"lib-name":
        session.lib_name = _checked_name(args[3])
    elif attribute == b"lib-ver":
        session.lib_ver = _checked_name(args[3])
    else:
        raise ReplyError(f"ERR Unrecognized option '{args[2].decode('utf-8', 'replace')}'")
    return OK


def _subscription_counts(session: Session) -> str:
    subs = session.subscriptions
    if subs is None:
        return "sub=0 psub=0 ssub=0"
    return f"sub={len(subs.channels)} psub={len(subs.patterns)} ssub={len(subs.shard_channels)}"


def request_size(args: Args) -> int:
    """The bytes of ``args`` as a RESP request: what Redis's query buffer still holds of the
    request being run (CLIENT LIST and CLIENT INFO show it in the caller's ``qbuf``)."""
    size = len(b"*%d\r\n" % len(args))
    for arg in args:
        size += len(b"$%d\r\n" % len(arg)) + len(arg) + 2
    return size


def client_line(session: Session, now_ms: int, running: Args | None = None) -> str:
    """One client as Redis 7.0's CLIENT LIST shows it (then 7.2's lib-name and lib-ver).

    Fields kvstore has no counterpart for are shown as Redis shows them for a client that does
    not use the feature (``sub=0``, ``redir=-1``); the buffers are the connection's own
    (``qbuf`` the unparsed requests, and for the caller the request being run, ``running``;
    ``omem`` the unsent replies). A client of the text protocol shows ``resp=0``."""
    age = (now_ms - session.created_ms) // 1000
    peer = session.peer
    fd, idle, qbuf, omem = (
        (-1, 0, 0, 0) if peer is None else (peer.fd, peer.idle_seconds(), *peer.buffer_sizes())
    )
    if running is not None and session.transport == "resp":
        qbuf += request_size(running)
    flags = ("x" if session.queued is not None else "") + ("e" if session.no_evict else "")
    multi = -1 if session.queued is None else len(session.queued)
    resp = session.protocol if session.transport == "resp" else 0
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} fd={fd} "
        f"name={session.name.decode()} age={age} idle={idle} flags={flags or 'N'} "
        f"db={session.db.index} {_subscription_counts(session)} multi={multi} "
        f"qbuf={qbuf} qbuf-free=0 "
        f"argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={omem} tot-mem={qbuf + omem} "
        f"events=r cmd={session.last_command or 'NULL'} user=default redir=-1 resp={resp} "
        f"lib-name={session.lib_name.decode()} lib-ver={session.lib_ver.decode()}"
    )


_CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


def _client_type(raw: bytes) -> bytes:
    kind = raw.lower()
    if kind not in _CLIENT_TYPES:
        raise ReplyError(f"ERR Unknown client type '{raw.decode('utf-8', 'replace')}'")
    return kind


def _client_list(session: Session, args: Args) -> Reply:
    chosen = list(session.server.sessions.values())
    if len(args) > 2:
        option = args[2].lower()
        if option == b"type" and len(args) == 4:
            if _client_type(args[3]) != b"normal":
                chosen = []  # every client of kvstore is a normal one
        elif option == b"id" and len(args) > 3:
            wanted = set()
            for raw in args[3:]:
                number = parse_int(raw)
                if number <= 0:
                    raise ReplyError("ERR Invalid client ID")
                wanted.add(number)
            chosen = [s for s in chosen if s.id in wanted]
        else:
            raise ReplyError(SYNTAX_ERROR)
    now = session.db.clock()
    return "".join(
        client_line(s, now, args if s is session else None) + "\n" for s in chosen
    ).encode()


def _client_kill(session: Session, args: Args) -> Reply:
    """CLIENT KILL addr (the old form: OK, or an error) or CLIENT KILL <filter value> ...
    (the number of clients killed), as Redis 7.0."""
    sessions = list(session.server.sessions.values())
    if len(args) == 3:
        addr = args[2].decode("utf-8", "replace")
        for other in sessions:
            if other.addr == addr:
                _kill(session, other)
                return OK
        raise ReplyError("ERR No such client")
    if len(args) % 2:
        raise ReplyError(SYNTAX_ERROR)
    skip_me = True
    ids: set[int] = set()  # the filters, each None or one value: all must match
    addrs: set[str] = set()
    laddrs: set[str] = set()
    kinds: set[bytes] = set()
    max_age: int | None = None
    for position in range(2, len(args), 2):
        option, raw = args[position].lower(), args[position + 1]
        value = raw.decode("utf-8", "replace")
        if option == b"id":
            try:
                wanted = parse_int(raw)
            except ReplyError:
                raise ReplyError("ERR client-id should be greater than 0") from None
            if wanted <= 0:
                raise ReplyError("ERR client-id should be greater than 0")
            ids = {wanted}
        elif option == b"type":
            kinds = {_client_type(raw)}
        elif option == b"addr":
            addrs = {value}
        elif option == b"laddr":
            laddrs = {value}
        elif option == b"user":
            if value != "default":
                raise ReplyError(f"ERR No such user '{value}'")
        elif option == b"skipme":
            if raw.lower() not in (b"yes", b"no"):
                raise ReplyError(SYNTAX_ERROR)
            skip_me = raw.lower() == b"yes"
        elif option == b"maxage":
            max_age = parse_int(raw)
        else:
            raise ReplyError(SYNTAX_ERROR)
    now = session.db.clock()
    killed = 0
    for other in sessions:
        if (
            (skip_me and other is session)
            or (ids and other.id not in ids)
            or (addrs and other.addr not in addrs)
            or (laddrs and other.laddr not in laddrs)
            or (kinds and b"normal" not in kinds)  # every client of kvstore is a normal one
            or (max_age is not None and (now - other.created_ms) // 1000 < max_age)
        ):
            continue
        _kill(session, other)
        killed += 1
    return killed


def _kill(session: Session, other: Session) -> None:
    if other is session:
        session.close_after_reply = True  # this reply first, as Redis does
    elif other.peer is not None:
        other.peer.kill()


def _client_no_evict(session: Session, args: Args) -> Reply:
    mode = args[2].lower()
    if mode not in (b"on", b"off"):
        raise ReplyError(SYNTAX_ERROR)
    session.no_evict = mode == b"on"
    return OK


def _client_reply(session: Session, args: Args) -> Reply:
    """ON answers OK; OFF and SKIP answer nothing (the connection drops their reply, see
    ``Session.drops_reply``): SKIP drops its own and the next one, and changes nothing while
    OFF is in force."""
    mode = args[2].lower()
    if mode == b"on":
        session.muted = False
        session.replies_to_skip = 0
    elif mode == b"off":
        session.muted = True
        session.replies_to_skip = 0
    elif mode == b"skip":
        if not session.muted or session.replies_to_skip:
            session.muted = True
            session.replies_to_skip = 2
    else:
        raise ReplyError(SYNTAX_ERROR)
    return OK


def _client_info(session: Session, args: Args) -> Reply:
    return (client_line(session, session.db.clock(), args) + "\n").encode()


_CLIENT: Subcommands = {
    b"id": (2, _client_id),
    b"setname": (3, _client_setname),
    b"getname": (2, _client_getname),
    b"setinfo": (4, _client_setinfo),
    b"list": (-2, _client_list),
    b"kill": (-3, _client_kill),
    b"no-evict": (3, _client_no_evict),
    b"reply": (3, _client_reply),
    b"pause": (-3, client_pause),
    b"unpause": (2, client_unpause),
    b"info": (2, _client_info),
    b"tracking": (-3, client_tracking),
    b"caching": (3, client_caching),
    b"getredir": (2, client_getredir),
    b"trackinginfo": (2, client_trackinginfo),
}


SUBCOMMAND_TABLES[b"client"] = _CLIENT


@command("client", -2, "", group="connection", summary="Inspect and name connections.")
def client(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_CLIENT, session, args)


# -- CONFIG ---------------------------------------------------------------------------------------


def _config_get(session: Session, args: Args) -> Reply:
    settings = session.server.settings()
    found: dict[bytes, Reply] = {}
    for pattern in args[2:]:
        text = pattern.decode("utf-8", "replace").lower()
        for name, value in settings.items():
            if fnmatch.fnmatchcase(name, text):
                found[name.encode()] = value.encode()
    return found


_CONFIG: Subcommands = {
    b"get": (-3, _config_get),
    b"set": (-4, config_set),
}


SUBCOMMAND_TABLES[b"config"] = _CONFIG


@command("config", -2, "", group="server", summary="Read and change the server's settings.")
def config(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_CONFIG, session, args)
