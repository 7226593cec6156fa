"""What COMMAND DOCS says of each command: since when Redis has it, and its arguments, as
Redis 7.0 describes them (the names, types, tokens and flags clients read to show hints and
build requests); the summaries are kvstore's own (:func:`kvstore.commands.table.command`).

Each command's arguments are written in a compact notation, one string, parsed once:

- ``name<type>`` an argument (``key``, ``string``, ``integer``, ``double``, ``pattern``,
  ``unix-time``, ``block``, ``oneof``); a bare ``name`` is a ``pure-token``;
- ``@N`` its key specification's index, ``=TOKEN`` the word before it, ``^V`` the version
  that added it, ``~V`` the one that deprecated it;
- prefixes ``?`` optional, ``*`` multiple, ``+`` multiple_token;
- ``(...)`` a block's or a oneof's own arguments, separated by spaces (block) or ``|``
  (oneof).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kvstore.protocol.replies import Reply, SetReply, Status


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    key_spec_index: int = -1
    token: str = ""
    since: str = ""
    deprecated_since: str = ""
    flags: tuple[str, ...] = ()
    arguments: tuple[Argument, ...] = ()

    def reply(self) -> Reply:
        fields: dict[bytes, Reply] = {b"name": self.name.encode(), b"type": self.type.encode()}
        if self.key_spec_index >= 0:
            fields[b"key_spec_index"] = self.key_spec_index
        if self.token:  # ``""`` in the notation: the empty word (MIGRATE's empty key)
            fields[b"token"] = b"" if self.token == '""' else self.token.encode()
        if self.since:
            fields[b"since"] = self.since.encode()
        if self.deprecated_since:
            fields[b"deprecated_since"] = self.deprecated_since.encode()
        if self.flags:
            fields[b"flags"] = SetReply(Status(flag) for flag in self.flags)
        if self.type in ("block", "oneof"):
            fields[b"arguments"] = [argument.reply() for argument in self.arguments]
        return fields


_FLAGS = {"?": "optional", "*": "multiple", "+": "multiple_token"}
_HEAD = re.compile(
    r"(?P<flags>[?*+]*)(?P<name>[^<>@=^~()| ]+)(?:<(?P<type>[a-z-]+)>)?(?:@(?P<key>\d+))?"
    r"(?:=(?P<token>[^<>@=^~()| ]+))?(?:\^(?P<since>[\d.]+))?(?:~(?P<deprecated>[\d.]+))?"
)


def parse_arguments(text: str) -> tuple[Argument, ...]:
    """The arguments the notation ``text`` describes (see the module's docstring)."""
    arguments, end = _parse_list(text, 0, " ")
    if end != len(text):
        raise ValueError(f"unexpected {text[end:]!r}")
    return arguments


def _parse_list(text: str, position: int, separator: str) -> tuple[tuple[Argument, ...], int]:
    found: list[Argument] = []
    while position < len(text) and text[position] != ")":
        argument, position = _parse_one(text, position)
        found.append(argument)
        if position < len(text) and text[position] == separator:
            position += 1
    return tuple(found), position


def _parse_one(text: str, position: int) -> tuple[Argument, int]:
    match = _HEAD.match(text, position)
    if match is None or match.end() == position:
        raise ValueError(f"no argument at {text[position:]!r}")
    kind = match["type"] or "pure-token"
    children: tuple[Argument, ...] = ()
    position = match.end()
    if kind in ("block", "oneof"):
        if text[position : position + 1] != "(":
            raise ValueError(f"{match['name']} has no arguments")
        children, position = _parse_list(text, position + 1, "|" if kind == "oneof" else " ")
        position += 1  # the ")"
    flags = tuple(_FLAGS[mark] for mark in "?*+" if mark in match["flags"])
    argument = Argument(
        match["name"],
        kind,
        int(match["key"]) if match["key"] is not None else -1,
        match["token"] or "",
        match["since"] or "",
        match["deprecated"] or "",
        flags,
        children,
    )
    return argument, position


@dataclass(frozen=True)
class CommandDoc:
    since: str
    doc_flags: tuple[str, ...]
    deprecated_since: str
    arguments: tuple[Argument, ...]


def _doc(since: str, extra: str, arguments: str) -> CommandDoc:
    options = dict(word.split("=", 1) for word in extra.split())
    return CommandDoc(
        since,
        tuple(options.get("flags", "").split()),
        options.get("deprecated", ""),
        parse_arguments(arguments),
    )


def command_doc(name: str) -> CommandDoc | None:
    """The documentation of ``name`` (``client|list`` for a subcommand), if it has one."""
    entry = DOCS.get(name)
    if entry is None:
        return None
    doc = _PARSED.get(name)
    if doc is None:
        doc = _PARSED[name] = _doc(*entry)
    return doc


_PARSED: dict[str, CommandDoc] = {}

#: name: (since, ``flags=... deprecated=...``, arguments in the notation above).
DOCS: dict[str, tuple[str, str, str]] = {
    "append": ("2.0.0", "", "key<key>@0 value<string>"),
    "auth": ("1.0.0", "", "?username<string>^6.0.0 password<string>"),
    "bgrewriteaof": ("1.0.0", "", ""),
    "bgsave": ("1.0.0", "", "?schedule=SCHEDULE^3.2.2"),
    "bitcount": (
        "2.6.0",
        "",
        (
            "key<key>@0 ?index<block>(start<integer> end<integer> "
            "?index_unit<oneof>^7.0.0(byte=BYTE|bit=BIT))"
        ),
    ),
    "bitfield": (
        "3.2.0",
        "",
        (
            "key<key>@0 ?*operation<oneof>(encoding_offset<block>=GET(encoding<string> "
            "offset<integer>)|write<block>(?wrap_sat_fail<oneof>=OVERFLOW(wrap=WRAP|"
            "sat=SAT|fail=FAIL) "
            "write_operation<oneof>(encoding_offset_value<block>=SET(encoding<string> "
            "offset<integer> value<integer>)|"
            "encoding_offset_increment<block>=INCRBY(encoding<string> offset<integer> "
            "increment<integer>))))"
        ),
    ),
    "bitfield_ro": (
        "6.0.0",
        "",
        ("key<key>@0 ?*+encoding_offset<block>=GET(encoding<string> offset<integer>)"),
    ),
    "bitop": ("2.6.0", "", "operation<string> destkey<key>@0 *key<key>@1"),
    "bitpos": (
        "2.8.7",
        "",
        (
            "key<key>@0 bit<integer> ?index<block>(start<integer> "
            "?end_index<block>(end<integer> ?index_unit<oneof>^7.0.0(byte=BYTE|bit=BIT)))"
        ),
    ),
    "asking": ("3.0.0", "", ""),
    "cluster": ("3.0.0", "", ""),
    "cluster|countkeysinslot": ("3.0.0", "", "slot<integer>"),
    "cluster|getkeysinslot": ("3.0.0", "", "slot<integer> count<integer>"),
    "cluster|getkeysinslots": ("", "", "count<integer> *slot<integer>"),  # kvstore's own
    "cluster|help": ("5.0.0", "", ""),
    "cluster|info": ("3.0.0", "", ""),
    "cluster|keyslot": ("3.0.0", "", "key<string>"),
    "cluster|myid": ("3.0.0", "", ""),
    "cluster|nodes": ("3.0.0", "", ""),
    "cluster|shards": ("7.0.0", "", ""),
    "cluster|slots": ("3.0.0", "flags=deprecated deprecated=7.0.0", ""),
    "client": ("2.4.0", "", ""),
    "client|reply": ("3.2.0", "", "on_off_skip<oneof>(on=ON|off=OFF|skip=SKIP)"),
    "client|trackinginfo": ("6.2.0", "", ""),
    "client|tracking": (
        "6.0.0",
        "",
        (
            "status<oneof>(on=ON|off=OFF) ?client-id<integer>=REDIRECT "
            "?*+prefix<string>=PREFIX ?bcast=BCAST ?optin=OPTIN ?optout=OPTOUT "
            "?noloop=NOLOOP"
        ),
    ),
    "client|getname": ("2.6.9", "", ""),
    "client|pause": ("2.9.50", "", "timeout<integer> ?mode<oneof>^6.2.0(write=WRITE|all=ALL)"),
    "client|caching": ("6.0.0", "", "mode<oneof>(yes=YES|no=NO)"),
    "client|no-evict": ("7.0.0", "", "enabled<oneof>(on=ON|off=OFF)"),
    "client|getredir": ("6.0.0", "", ""),
    "client|info": ("6.2.0", "", ""),
    "client|id": ("5.0.0", "", ""),
    "client|setname": ("2.6.9", "", "connection-name<string>"),
    "client|kill": (
        "2.4.0",
        "",
        (
            "filter<oneof>(ip:port<string>~2.8.12|"
            "*new-format<oneof>(?client-id<integer>=ID^2.8.12|"
            "?normal_master_slave_pubsub<oneof>=TYPE^2.8.12(normal=NORMAL|"
            "master=MASTER^3.2.0|slave=SLAVE|replica=REPLICA^5.0.0|pubsub=PUBSUB)|"
            "?username<string>=USER|?ip:port<string>=ADDR|?ip:port<string>=LADDR^6.2.0|"
            "?yes/no<string>=SKIPME))"
        ),
    ),
    "client|unpause": ("6.2.0", "", ""),
    "client|list": (
        "2.4.0",
        "",
        (
            "?normal_master_replica_pubsub<oneof>=TYPE^5.0.0(normal=NORMAL|master=MASTER|"
            "replica=REPLICA|pubsub=PUBSUB) ?id<block>=ID^6.2.0(*client-id<integer>)"
        ),
    ),
    "command": ("2.8.13", "", ""),
    "command|getkeys": ("2.8.13", "", ""),
    "command|info": ("2.8.13", "", "?*command-name<string>"),
    "command|docs": ("7.0.0", "", "?*command-name<string>"),
    "command|count": ("2.8.13", "", ""),
    "command|getkeysandflags": ("7.0.0", "", ""),
    "command|help": ("5.0.0", "", ""),
    "command|list": (
        "7.0.0",
        "",
        (
            "?filterby<oneof>=FILTERBY(module-name<string>=MODULE|category<string>=ACLCAT|"
            "pattern<pattern>=PATTERN)"
        ),
    ),
    "config": ("2.0.0", "", ""),
    "config|resetstat": ("2.0.0", "", ""),
    "config|set": ("2.0.0", "", "*parameter_value<block>(parameter<string> value<string>)"),
    "config|get": ("2.0.0", "", "*parameter<block>(parameter<string>)"),
    "copy": (
        "6.2.0",
        "",
        ("source<key>@0 destination<key>@1 ?destination-db<integer>=DB ?replace=REPLACE"),
    ),
    "dbsize": ("1.0.0", "", ""),
    "decr": ("1.0.0", "", "key<key>@0"),
    "decrby": ("1.0.0", "", "key<key>@0 decrement<integer>"),
    "del": ("1.0.0", "", "*key<key>@0"),
    "discard": ("2.0.0", "", ""),
    "dump": ("2.6.0", "", "key<key>@0"),
    "echo": ("1.0.0", "", "message<string>"),
    "exec": ("1.2.0", "", ""),
    "exists": ("1.0.0", "", "*key<key>@0"),
    "expire": (
        "1.0.0",
        "",
        ("key<key>@0 seconds<integer> ?condition<oneof>^7.0.0(nx=NX|xx=XX|gt=GT|lt=LT)"),
    ),
    "expireat": (
        "1.2.0",
        "",
        (
            "key<key>@0 unix-time-seconds<unix-time> ?condition<oneof>^7.0.0(nx=NX|xx=XX|"
            "gt=GT|lt=LT)"
        ),
    ),
    "expiretime": ("7.0.0", "", "key<key>@0"),
    "flushall": ("1.0.0", "", "?async<oneof>(async=ASYNC^4.0.0|sync=SYNC^6.2.0)"),
    "flushdb": ("1.0.0", "", "?async<oneof>(async=ASYNC^4.0.0|sync=SYNC^6.2.0)"),
    "function": ("7.0.0", "", ""),
    "function|flush": ("7.0.0", "", "?async<oneof>(async=ASYNC|sync=SYNC)"),
    "function|delete": ("7.0.0", "", "library-name<string>"),
    "function|dump": ("7.0.0", "", ""),
    "function|help": ("7.0.0", "", ""),
    "function|load": ("7.0.0", "", "?replace=REPLACE function-code<string>"),
    "function|kill": ("7.0.0", "", ""),
    "function|restore": (
        "7.0.0",
        "",
        ("serialized-value<string> ?policy<oneof>(flush=FLUSH|append=APPEND|replace=REPLACE)"),
    ),
    "function|list": ("7.0.0", "", "?library-name-pattern<string>=LIBRARYNAME ?withcode=WITHCODE"),
    "function|stats": ("7.0.0", "", ""),
    "get": ("1.0.0", "", "key<key>@0"),
    "getbit": ("2.2.0", "", "key<key>@0 offset<integer>"),
    "getdel": ("6.2.0", "", "key<key>@0"),
    "getex": (
        "6.2.0",
        "",
        (
            "key<key>@0 ?expiration<oneof>(seconds<integer>=EX|milliseconds<integer>=PX|"
            "unix-time-seconds<unix-time>=EXAT|unix-time-milliseconds<unix-time>=PXAT|"
            "persist=PERSIST)"
        ),
    ),
    "getrange": ("2.4.0", "", "key<key>@0 start<integer> end<integer>"),
    "getset": ("1.0.0", "flags=deprecated deprecated=6.2.0", "key<key>@0 value<string>"),
    "hello": (
        "6.0.0",
        "",
        (
            "?arguments<block>(protover<integer> "
            "?username_password<block>=AUTH(username<string> password<string>) "
            "?clientname<string>=SETNAME)"
        ),
    ),
    "incr": ("1.0.0", "", "key<key>@0"),
    "incrby": ("1.0.0", "", "key<key>@0 increment<integer>"),
    "incrbyfloat": ("2.6.0", "", "key<key>@0 increment<double>"),
    "info": ("1.0.0", "", "?*section<string>"),
    "keys": ("1.0.0", "", "pattern<pattern>"),
    "lastsave": ("1.0.0", "", ""),
    "latency": ("2.8.13", "", ""),
    "latency|reset": ("2.8.13", "", "?*event<string>"),
    "latency|doctor": ("2.8.13", "", ""),
    "latency|histogram": ("7.0.0", "", "?*command<string>"),
    "latency|history": ("2.8.13", "", "event<string>"),
    "latency|graph": ("2.8.13", "", "event<string>"),
    "latency|help": ("2.8.13", "", ""),
    "latency|latest": ("2.8.13", "", ""),
    "lcs": (
        "7.0.0",
        "",
        (
            "key1<key>@0 key2<key>@0 ?len=LEN ?idx=IDX ?len<integer>=MINMATCHLEN "
            "?withmatchlen=WITHMATCHLEN"
        ),
    ),
    "mget": ("1.0.0", "", "*key<key>@0"),
    "migrate": (
        "2.6.0",
        "",
        (
            "host<string> port<integer> key_or_empty_string<oneof>(key<key>@0|"
            'empty_string="") destination-db<integer> timeout<integer> ?copy=COPY^3.0.0 '
            "?replace=REPLACE^3.0.0 ?authentication<oneof>(?password<string>=AUTH^4.0.7|"
            "?username_password<block>=AUTH2^6.0.0(username<string> password<string>)) "
            "?*key<key>@1=KEYS^3.0.6"
        ),
    ),
    "monitor": ("1.0.0", "", ""),
    "move": ("1.0.0", "", "key<key>@0 db<integer>"),
    "mset": ("1.0.1", "", "*key_value<block>(key<key>@0 value<string>)"),
    "msetnx": ("1.0.1", "", "*key_value<block>(key<key>@0 value<string>)"),
    "multi": ("1.2.0", "", ""),
    "object": ("2.2.3", "", ""),
    "object|idletime": ("2.2.3", "", "key<key>@0"),
    "object|freq": ("4.0.0", "", "key<key>@0"),
    "object|help": ("6.2.0", "", ""),
    "object|encoding": ("2.2.3", "", "key<key>@0"),
    "object|refcount": ("2.2.3", "", "key<key>@0"),
    "persist": ("2.2.0", "", "key<key>@0"),
    "pexpire": (
        "2.6.0",
        "",
        ("key<key>@0 milliseconds<integer> ?condition<oneof>^7.0.0(nx=NX|xx=XX|gt=GT|lt=LT)"),
    ),
    "pexpireat": (
        "2.6.0",
        "",
        (
            "key<key>@0 unix-time-milliseconds<unix-time> ?condition<oneof>^7.0.0(nx=NX|"
            "xx=XX|gt=GT|lt=LT)"
        ),
    ),
    "pexpiretime": ("7.0.0", "", "key<key>@0"),
    "ping": ("1.0.0", "", "?message<string>"),
    "psetex": ("2.6.0", "", "key<key>@0 milliseconds<integer> value<string>"),
    "psubscribe": ("2.0.0", "", "*pattern<block>(pattern<pattern>)"),
    "psync": ("2.8.0", "", "replicationid<string> offset<integer>"),
    "pttl": ("2.6.0", "", "key<key>@0"),
    "publish": ("2.0.0", "", "channel<string> message<string>"),
    "pubsub": ("2.8.0", "", ""),
    "pubsub|numpat": ("2.8.0", "", ""),
    "pubsub|help": ("6.2.0", "", ""),
    "pubsub|channels": ("2.8.0", "", "?pattern<pattern>"),
    "pubsub|numsub": ("2.8.0", "", "?*channel<string>"),
    "pubsub|shardnumsub": ("7.0.0", "", "?*shardchannel<string>"),
    "pubsub|shardchannels": ("7.0.0", "", "?pattern<pattern>"),
    "punsubscribe": ("2.0.0", "", "?*pattern<pattern>"),
    "quit": ("1.0.0", "", ""),
    "randomkey": ("1.0.0", "", ""),
    "readonly": ("3.0.0", "", ""),
    "readwrite": ("3.0.0", "", ""),
    "rename": ("1.0.0", "", "key<key>@0 newkey<key>@1"),
    "renamenx": ("1.0.0", "", "key<key>@0 newkey<key>@1"),
    "replconf": ("3.0.0", "flags=syscmd", ""),
    "replicaof": (
        "5.0.0",
        "",
        "args<oneof>(host-port<block>(host<string> port<integer>)|no-one<block>(no=NO one=ONE))",
    ),
    "reset": ("6.2.0", "", ""),
    "restore-asking": (
        "3.0.0",
        "flags=syscmd",
        (
            "key<key>@0 ttl<integer> serialized-value<string> ?replace=REPLACE^3.0.0 "
            "?absttl=ABSTTL^5.0.0 ?seconds<integer>=IDLETIME^5.0.0 "
            "?frequency<integer>=FREQ^5.0.0"
        ),
    ),
    "restore": (
        "2.6.0",
        "",
        (
            "key<key>@0 ttl<integer> serialized-value<string> ?replace=REPLACE^3.0.0 "
            "?absttl=ABSTTL^5.0.0 ?seconds<integer>=IDLETIME^5.0.0 "
            "?frequency<integer>=FREQ^5.0.0"
        ),
    ),
    "role": ("2.8.12", "", ""),
    "save": ("1.0.0", "", ""),
    "scan": (
        "2.8.0",
        "",
        ("cursor<integer> ?pattern<pattern>=MATCH ?count<integer>=COUNT ?type<string>=TYPE^6.0.0"),
    ),
    "script": ("2.6.0", "", ""),
    "script|help": ("5.0.0", "", ""),
    "script|exists": ("2.6.0", "", "*sha1<string>"),
    "script|debug": ("3.2.0", "", "mode<oneof>(yes=YES|sync=SYNC|no=NO)"),
    "script|flush": ("2.6.0", "", "?async<oneof>^6.2.0(async=ASYNC|sync=SYNC)"),
    "script|load": ("2.6.0", "", "script<string>"),
    "script|kill": ("2.6.0", "", ""),
    "select": ("1.0.0", "", "index<integer>"),
    "set": (
        "1.0.0",
        "",
        (
            "key<key>@0 value<string> ?condition<oneof>^2.6.12(nx=NX|xx=XX) ?get=GET^6.2.0 "
            "?expiration<oneof>(seconds<integer>=EX^2.6.12|milliseconds<integer>=PX^2.6.12|"
            "unix-time-seconds<unix-time>=EXAT^6.2.0|"
            "unix-time-milliseconds<unix-time>=PXAT^6.2.0|keepttl=KEEPTTL^6.0.0)"
        ),
    ),
    "setbit": ("2.2.0", "", "key<key>@0 offset<integer> value<integer>"),
    "setex": ("2.0.0", "", "key<key>@0 seconds<integer> value<string>"),
    "setnx": ("1.0.0", "", "key<key>@0 value<string>"),
    "setrange": ("2.2.0", "", "key<key>@0 offset<integer> value<string>"),
    "shutdown": (
        "1.0.0",
        "",
        (
            "?nosave_save<oneof>(nosave=NOSAVE|save=SAVE) ?now=NOW^7.0.0 "
            "?force=FORCE^7.0.0 ?abort=ABORT^7.0.0"
        ),
    ),
    "slaveof": (
        "1.0.0",
        "flags=deprecated deprecated=5.0.0",
        "args<oneof>(host-port<block>(host<string> port<integer>)|no-one<block>(no=NO one=ONE))",
    ),
    "slowlog": ("2.2.12", "", ""),
    "slowlog|len": ("2.2.12", "", ""),
    "slowlog|reset": ("2.2.12", "", ""),
    "slowlog|help": ("6.2.0", "", ""),
    "slowlog|get": ("2.2.12", "", "?count<integer>"),
    "spublish": ("7.0.0", "", "shardchannel<string> message<string>"),
    "ssubscribe": ("7.0.0", "", "*shardchannel<string>"),
    "strlen": ("2.2.0", "", "key<key>@0"),
    "subscribe": ("2.0.0", "", "*channel<string>"),
    "sunsubscribe": ("7.0.0", "", "?*shardchannel<string>"),
    "swapdb": ("4.0.0", "", "index1<integer> index2<integer>"),
    "time": ("2.6.0", "", ""),
    "touch": ("3.2.1", "", "*key<key>@0"),
    "ttl": ("1.0.0", "", "key<key>@0"),
    "type": ("1.0.0", "", "key<key>@0"),
    "unlink": ("4.0.0", "", "*key<key>@0"),
    "unsubscribe": ("2.0.0", "", "?*channel<string>"),
    "unwatch": ("2.2.0", "", ""),
    "wait": ("3.0.0", "", "numreplicas<integer> timeout<integer>"),
    "watch": ("2.2.0", "", "*key<key>@0"),
}
