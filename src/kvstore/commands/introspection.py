"""COMMAND: the command table described as Redis 7.0 describes its own.

Each command is a 10-element entry: name, arity, flags, first key, last key, key step, ACL
categories, tips, key specifications and subcommands (each an entry of the same shape), as
``COMMAND``, ``COMMAND INFO`` and the clients that read them (redis-cli's hints, redis-py's
cluster client) expect. What the entries say comes from the command table
(:func:`kvstore.commands.table.command`'s flags, keys, key specifications, tips and extra ACL
categories); the ACL categories follow from the flags and the group as in Redis (``@write``,
``@read``, ``@admin @dangerous``, ``@fast`` or else ``@slow``, then the group's own such as
``@string`` or ``@keyspace``), listed in Redis's order. Container commands (CLIENT, CONFIG,
OBJECT...) show Redis's own flags for themselves and for each of their subcommands
(:data:`SUBCOMMANDS`), not the ones kvstore's dispatcher reads.

Also COMMAND COUNT, LIST (FILTERBY MODULE, ACLCAT, PATTERN), DOCS (summary, since, group,
doc flags and arguments: :mod:`kvstore.commands.command_docs`),
GETKEYS and GETKEYSANDFLAGS (the keys an invocation names, found from the key
specifications, with their flags) and HELP.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.commands.command_docs import command_doc
from kvstore.commands.context import Session
from kvstore.commands.glob import compile_glob
from kvstore.commands.table import (
    COMMANDS,
    SUBCOMMAND_TABLES,
    SYNTAX_ERROR,
    Args,
    Command,
    KeySpec,
    Subcommands,
    arity_accepts,
    command,
    dispatch_subcommand,
)
from kvstore.protocol.replies import Reply, ReplyError, SetReply, Status

#: Redis's order of command flags in COMMAND's replies.
FLAG_ORDER = [
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
]
#: Redis's order of ACL categories.
ACL_ORDER = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
]
#: The ACL category of each command group (the groups kvstore's commands belong to).
GROUP_CATEGORY = {
    "string": "string",
    "bitmap": "bitmap",
    "generic": "keyspace",
    "connection": "connection",
    "transactions": "transaction",
    "scripting": "scripting",
    "pubsub": "pubsub",
}

#: Commands whose ACL categories do not include their group's (WAIT: ``generic``, yet only
#: ``@slow @connection``, as Redis 7.0 files it).
OUTSIDE_GROUP_CATEGORY = frozenset({"wait"})


@dataclass(frozen=True)
class Described:
    """One entry of COMMAND's reply."""

    name: str
    arity: int
    flags: tuple[str, ...]
    keys: tuple[int, int, int]
    acl: tuple[str, ...]
    tips: tuple[str, ...]
    key_specs: tuple[KeySpec, ...]
    subcommands: tuple[Described, ...] = ()


@dataclass(frozen=True)
class SubcommandInfo:
    """What COMMAND says of one subcommand. Its arity is the one in the container's sub-table
    (``SUBCOMMAND_TABLES``) when the container registers one, else ``arity``."""

    flags: str
    acl: str = ""
    tips: str = ""
    keys: tuple[int, int, int] = (0, 0, 0)
    key_specs: tuple[KeySpec, ...] = ()
    arity: int = 0


_CONN = "noscript loading stale"
_ADMIN = "admin noscript loading stale"
_HELP = SubcommandInfo("loading stale")
_NONDETERMINISTIC = "nondeterministic_output"
_ORDER = "nondeterministic_output_order"
_LATENCY = f"{_NONDETERMINISTIC} request_policy:all_nodes response_policy:special"
_ALL_SHARDS = "request_policy:all_shards response_policy:all_succeeded"
_OBJECT_KEY = SubcommandInfo(
    "readonly", "keyspace", _NONDETERMINISTIC, (2, 2, 1), (KeySpec(("RO",), 2),)
)

#: Redis's description of each subcommand kvstore has, by container.
SUBCOMMANDS: dict[str, dict[str, SubcommandInfo]] = {
    "client": {
        "id": SubcommandInfo(_CONN, "connection"),
        "setname": SubcommandInfo(_CONN, "connection"),
        "getname": SubcommandInfo(_CONN, "connection"),
        "setinfo": SubcommandInfo(_CONN, "connection"),
        "list": SubcommandInfo(_ADMIN, "connection", _NONDETERMINISTIC),
        "kill": SubcommandInfo(_ADMIN, "connection"),
        "no-evict": SubcommandInfo(_ADMIN, "connection"),
        "reply": SubcommandInfo(_CONN, "connection"),
        "pause": SubcommandInfo(_ADMIN, "connection"),
        "unpause": SubcommandInfo(_ADMIN, "connection"),
        "info": SubcommandInfo(_CONN, "connection", _NONDETERMINISTIC),
        "help": SubcommandInfo("loading stale", "connection"),
        "tracking": SubcommandInfo(_CONN, "connection"),
        "caching": SubcommandInfo(_CONN, "connection"),
        "getredir": SubcommandInfo(_CONN, "connection"),
        "trackinginfo": SubcommandInfo(_CONN, "connection"),
    },
    "pubsub": {
        "channels": SubcommandInfo("pubsub loading stale", "pubsub"),
        "numpat": SubcommandInfo("pubsub loading stale", "pubsub"),
        "numsub": SubcommandInfo("pubsub loading stale", "pubsub"),
        "shardchannels": SubcommandInfo("pubsub loading stale", "pubsub"),
        "shardnumsub": SubcommandInfo("pubsub loading stale", "pubsub"),
        "help": SubcommandInfo("loading stale"),
    },
    "cluster": {
        "countkeysinslot": SubcommandInfo("stale"),
        "getkeysinslot": SubcommandInfo("stale", "", _NONDETERMINISTIC),
        "getkeysinslots": SubcommandInfo("stale", "", _NONDETERMINISTIC),  # kvstore's own
        "info": SubcommandInfo("stale", "", _NONDETERMINISTIC),
        "keyslot": SubcommandInfo("stale"),
        "myid": SubcommandInfo("stale"),
        "nodes": SubcommandInfo("stale", "", _NONDETERMINISTIC),
        "shards": SubcommandInfo("stale", "", _NONDETERMINISTIC),
        "slots": SubcommandInfo("stale", "", _NONDETERMINISTIC),
        "help": SubcommandInfo("loading stale"),
    },
    "command": {
        "count": SubcommandInfo("loading stale", "connection"),
        "info": SubcommandInfo("loading stale", "connection", _ORDER),
        "docs": SubcommandInfo("loading stale", "connection", _ORDER),
        "list": SubcommandInfo("loading stale", "connection", _ORDER),
        "getkeys": SubcommandInfo("loading stale", "connection"),
        "getkeysandflags": SubcommandInfo("loading stale", "connection"),
        "help": SubcommandInfo("loading stale", "connection"),
    },
    "config": {
        "get": SubcommandInfo(_ADMIN),
        "set": SubcommandInfo(_ADMIN, "", "request_policy:all_nodes response_policy:all_succeeded"),
        "resetstat": SubcommandInfo(_ADMIN),
        "help": _HELP,
    },
    "latency": {
        "latest": SubcommandInfo(_ADMIN, "", _LATENCY),
        "history": SubcommandInfo(_ADMIN, "", _LATENCY),
        "graph": SubcommandInfo(_ADMIN, "", _LATENCY),
        "doctor": SubcommandInfo(_ADMIN, "", _LATENCY),
        "histogram": SubcommandInfo(_ADMIN, "", _LATENCY),
        "reset": SubcommandInfo(
            _ADMIN, "", "request_policy:all_nodes response_policy:all_succeeded"
        ),
        "help": _HELP,
    },
    "slowlog": {
        "get": SubcommandInfo(
            "admin loading stale", "", f"request_policy:all_nodes {_NONDETERMINISTIC}", arity=-2
        ),
        "len": SubcommandInfo(
            "admin loading stale",
            "",
            f"request_policy:all_nodes response_policy:agg_sum {_NONDETERMINISTIC}",
            arity=2,
        ),
        "reset": SubcommandInfo(
            "admin loading stale",
            "",
            "request_policy:all_nodes response_policy:all_succeeded",
            arity=2,
        ),
        "help": SubcommandInfo("loading stale", arity=2),
    },
    "object": {
        "encoding": _OBJECT_KEY,
        "refcount": _OBJECT_KEY,
        "idletime": _OBJECT_KEY,
        "freq": _OBJECT_KEY,
        "help": SubcommandInfo("loading stale", "keyspace"),
    },
    "function": {
        "load": SubcommandInfo("write denyoom noscript", "scripting", _ALL_SHARDS),
        "delete": SubcommandInfo("write noscript", "scripting", _ALL_SHARDS),
        "flush": SubcommandInfo("write noscript", "scripting", _ALL_SHARDS),
        "restore": SubcommandInfo("write denyoom noscript", "scripting", _ALL_SHARDS),
        "dump": SubcommandInfo("noscript", "scripting"),
        "list": SubcommandInfo("noscript", "scripting", _ORDER),
        "kill": SubcommandInfo(
            "noscript allow_busy",
            "scripting",
            "request_policy:all_shards response_policy:one_succeeded",
        ),
        "stats": SubcommandInfo(
            "noscript allow_busy",
            "scripting",
            f"{_NONDETERMINISTIC} request_policy:all_shards response_policy:special",
        ),
        "help": SubcommandInfo("loading stale", "scripting"),
    },
    "script": {
        "load": SubcommandInfo(
            "noscript stale", "scripting", "request_policy:all_nodes response_policy:all_succeeded"
        ),
        "exists": SubcommandInfo(
            "noscript", "scripting", "request_policy:all_shards response_policy:agg_logical_and"
        ),
        "kill": SubcommandInfo(
            "noscript allow_busy",
            "scripting",
            "request_policy:all_shards response_policy:one_succeeded",
        ),
        "flush": SubcommandInfo(
            "noscript", "scripting", "request_policy:all_nodes response_policy:all_succeeded"
        ),
        "debug": SubcommandInfo("noscript", "scripting"),
        "help": SubcommandInfo("loading stale", "scripting"),
    },
}
#: What Redis says of container commands themselves: (flags, ACL categories, tips).
CONTAINERS = {"command": ("loading stale", "connection", _ORDER)}


def _flags(flags: frozenset[str] | set[str]) -> tuple[str, ...]:
    named = {"no_auth" if flag == "noauth" else flag for flag in flags}
    return tuple(flag for flag in FLAG_ORDER if flag in named)


def _categories(flags: tuple[str, ...], extra: set[str]) -> tuple[str, ...]:
    categories = set(extra)
    if "write" in flags:
        categories.add("write")
    if "readonly" in flags and "scripting" not in categories:
        categories.add("read")
    if "admin" in flags:
        categories |= {"admin", "dangerous"}
    categories.add("fast" if "fast" in flags else "slow")
    return tuple(f"@{name}" for name in ACL_ORDER if name in categories)


def _subcommands(cmd: Command) -> tuple[Described, ...]:
    infos = SUBCOMMANDS.get(cmd.name, {})
    table = SUBCOMMAND_TABLES.get(cmd.name.encode())
    if table is not None:
        arities = {sub.decode(): arity for sub, (arity, _handler) in table.items()}
    else:
        arities = {sub: info.arity for sub, info in infos.items()}
    described = []
    for sub, arity in arities.items():
        info = infos.get(sub, _HELP)
        flags = _flags(set(info.flags.split()))
        described.append(
            Described(
                f"{cmd.name}|{sub}",
                arity,
                flags,
                info.keys,
                _categories(flags, set(info.acl.split())),
                tuple(info.tips.split()),
                info.key_specs,
            )
        )
    return tuple(described)


def describe(cmd: Command) -> Described:
    """The entry COMMAND shows for ``cmd``."""
    subcommands = _subcommands(cmd)
    group = None if cmd.name in OUTSIDE_GROUP_CATEGORY else GROUP_CATEGORY.get(cmd.group)
    extra = set(cmd.acl) | ({group} if group else set())
    if subcommands:
        flag_words, acl, tips = CONTAINERS.get(cmd.name, ("", "", ""))
        flags = _flags(set(flag_words.split()))
        return Described(
            cmd.name,
            cmd.arity,
            flags,
            (0, 0, 0),
            _categories(flags, set(acl.split())),
            tuple(tips.split()),
            (),
            subcommands,
        )
    flags = _flags(cmd.flags)
    return Described(
        cmd.name,
        cmd.arity,
        flags,
        (cmd.first_key, cmd.last_key, cmd.key_step),
        _categories(flags, extra),
        cmd.tips,
        cmd.key_specs,
    )


def _key_spec_reply(spec: KeySpec) -> Reply:
    reply: dict[bytes, Reply] = {}
    if spec.notes:
        reply[b"notes"] = spec.notes.encode()
    reply[b"flags"] = SetReply(Status(flag) for flag in spec.flags)
    if spec.keyword:
        reply[b"begin_search"] = {
            b"type": b"keyword",
            b"spec": {b"keyword": spec.keyword.encode(), b"startfrom": spec.begin},
        }
    else:
        reply[b"begin_search"] = {b"type": b"index", b"spec": {b"index": spec.begin}}
    reply[b"find_keys"] = {
        b"type": b"range",
        b"spec": {b"lastkey": spec.last, b"keystep": spec.step, b"limit": 0},
    }
    return reply


def entry(described: Described) -> Reply:
    """The 10-element reply for one command or subcommand."""
    first, last, step = described.keys
    return [
        described.name.encode(),
        described.arity,
        SetReply(Status(flag) for flag in described.flags),
        first,
        last,
        step,
        SetReply(Status(category) for category in described.acl),
        SetReply(tip.encode() for tip in described.tips),
        SetReply(_key_spec_reply(spec) for spec in described.key_specs),
        # Redis sends an empty set when there are no subcommands, else an array.
        [entry(sub) for sub in described.subcommands] if described.subcommands else SetReply(),
    ]


def _lookup(name: bytes) -> Command | None:
    return COMMANDS.get(name.lower())


def _command_count(session: Session, args: Args) -> Reply:
    return len(COMMANDS)


def _command_info(session: Session, args: Args) -> Reply:
    if len(args) == 2:
        return [entry(describe(cmd)) for cmd in COMMANDS.values()]
    replies: list[Reply] = []
    for name in args[2:]:
        cmd = _lookup(name)
        replies.append(None if cmd is None else entry(describe(cmd)))
    return replies


def _doc_fields(name: str, summary: str, group: str) -> dict[bytes, Reply]:
    """One command's or subcommand's COMMAND DOCS entry, fields in Redis's order."""
    fields: dict[bytes, Reply] = {b"summary": summary.encode()}
    doc = command_doc(name)
    fields[b"since"] = (doc.since if doc is not None else "1.0.0").encode()
    fields[b"group"] = group.encode()
    if doc is None:
        return fields
    if doc.doc_flags:
        fields[b"doc_flags"] = SetReply(Status(flag) for flag in doc.doc_flags)
    if doc.deprecated_since:
        fields[b"deprecated_since"] = doc.deprecated_since.encode()
    if doc.arguments:
        fields[b"arguments"] = [argument.reply() for argument in doc.arguments]
    return fields


def _docs(cmd: Command) -> Reply:
    docs = _doc_fields(cmd.name, cmd.summary, cmd.group)
    subcommands = _subcommands(cmd)
    if subcommands:
        docs[b"subcommands"] = {
            sub.name.encode(): _doc_fields(sub.name, sub.name.upper().replace("|", " "), cmd.group)
            for sub in subcommands
        }
    return docs


def _command_docs(session: Session, args: Args) -> Reply:
    if len(args) == 2:
        return {cmd.name.encode(): _docs(cmd) for cmd in COMMANDS.values()}
    docs: dict[bytes, Reply] = {}
    for name in args[2:]:
        cmd = _lookup(name)
        if cmd is not None:
            docs[cmd.name.encode()] = _docs(cmd)
    return docs


def _command_list(session: Session, args: Args) -> Reply:
    names = [cmd.name for cmd in COMMANDS.values()]
    names += [sub.name for cmd in COMMANDS.values() for sub in _subcommands(cmd)]
    if len(args) == 2:
        return [name.encode() for name in names]
    if len(args) != 5 or args[2].lower() != b"filterby":
        raise ReplyError(SYNTAX_ERROR)
    kind, value = args[3].lower(), args[4]
    if kind == b"module":
        return []  # kvstore loads no modules
    if kind == b"aclcat":
        category = "@" + value.decode("utf-8", "replace").lower()
        everything = [describe(cmd) for cmd in COMMANDS.values()]
        everything += [sub for described in everything for sub in described.subcommands]
        return [d.name.encode() for d in everything if category in d.acl]
    if kind == b"pattern":
        matches = compile_glob(value.lower()).matches
        return [name.encode() for name in names if matches(name.encode())]
    raise ReplyError(SYNTAX_ERROR)


def _set_key_flags(args: Args) -> tuple[str, ...]:
    """SET's key is read only with GET (its spec says ``variable_flags``)."""
    if any(arg.lower() == b"get" for arg in args[3:]):
        return ("RW", "access", "update")
    return ("OW", "update")


def _bitfield_key_flags(args: Args) -> tuple[str, ...]:
    """BITFIELD's key is written unless every operation is a GET (or OVERFLOW)."""
    i = 2
    while i < len(args):
        word, remaining = args[i].lower(), len(args) - i - 1
        if word == b"get" and remaining >= 2:
            i += 3
        elif word == b"overflow" and remaining >= 1:
            i += 2
        else:
            return ("RW", "access", "update")
    return ("RO", "access")


#: Commands whose key's flags depend on the arguments, as Redis's ``getkeys_proc`` decides.
_VARIABLE_FLAGS = {"set": _set_key_flags, "bitfield": _bitfield_key_flags}


def _keys_of(args: Args) -> list[tuple[bytes, tuple[str, ...]]]:
    """The keys the command ``args`` names, each with its key specification's flags, checked
    in Redis's order: a known command (or subcommand), one that has keys, the arity."""
    cmd = _lookup(args[0])
    if cmd is None:
        raise ReplyError("ERR Invalid command specified")
    described = describe(cmd)
    if described.subcommands:
        wanted = f"{cmd.name}|{args[1].decode('utf-8', 'replace').lower()}"
        found = [sub for sub in described.subcommands if sub.name == wanted]
        if not found:
            raise ReplyError("ERR Invalid command specified")
        described = found[0]
    if not described.key_specs:
        raise ReplyError("ERR The command has no key arguments")
    if not arity_accepts(described.arity, len(args)):
        raise ReplyError("ERR Invalid number of arguments specified for command")
    variable = _VARIABLE_FLAGS.get(described.name)
    if variable is not None:
        return [(args[1], variable(args))]
    keys: list[tuple[bytes, tuple[str, ...]]] = []
    if described.name == "migrate":
        return _migrate_keys(args, described.key_specs)
    for spec in described.key_specs:
        last = spec.begin + spec.last if spec.last >= 0 else len(args) + spec.last
        for index in range(spec.begin, min(last, len(args) - 1) + 1, spec.step):
            keys.append((args[index], spec.flags))
    if not keys:
        raise ReplyError("ERR Invalid arguments specified for command")
    return keys


def _migrate_keys(args: Args, specs: tuple[KeySpec, ...]) -> list[tuple[bytes, tuple[str, ...]]]:
    """MIGRATE's keys, as Redis's ``migrateGetKeys``: those after ``KEYS`` when the key
    argument is empty, else the key argument."""
    if not args[3]:
        for index in range(6, len(args)):
            if args[index].lower() == b"keys":
                return [(key, specs[1].flags) for key in args[index + 1 :]]
    return [(args[3], specs[0].flags)]


def keys_of(args: Args) -> list[bytes]:
    """The keys the command ``args`` names (none for one COMMAND GETKEYS would refuse)."""
    try:
        return [key for key, _flags in _keys_of(args)]
    except ReplyError:
        return []


def _command_getkeys(session: Session, args: Args) -> Reply:
    return [key for key, _flags in _keys_of(args[2:])]


def _command_getkeysandflags(session: Session, args: Args) -> Reply:
    return [[key, SetReply(Status(flag) for flag in flags)] for key, flags in _keys_of(args[2:])]


HELP = (
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
    "    Return a list of all commands in this server, optionally filtered.",
    "INFO [<command-name> ...]",
    "    Return details about the given commands, or all of them.",
    "DOCS [<command-name> ...]",
    "    Return the documentation of the given commands, or all of them.",
    "GETKEYS <full-command>",
    "    Return the keys of a full command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys of a full command and their flags.",
    "HELP",
    "    Print this help.",
)


def _command_help(session: Session, args: Args) -> Reply:
    return [Status(line) for line in HELP]


_COMMAND: Subcommands = {
    b"count": (2, _command_count),
    b"info": (-2, _command_info),
    b"docs": (-2, _command_docs),
    b"list": (-2, _command_list),
    b"getkeys": (-4, _command_getkeys),
    b"getkeysandflags": (-4, _command_getkeysandflags),
    b"help": (2, _command_help),
}
SUBCOMMAND_TABLES[b"command"] = _COMMAND


@command("command", -1, "loading stale", group="server", summary="Describe the commands.")
def command_(session: Session, args: Args) -> Reply:
    if len(args) == 1:
        return [entry(describe(cmd)) for cmd in COMMANDS.values()]
    return dispatch_subcommand(_COMMAND, session, args)
