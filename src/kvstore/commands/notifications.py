"""Keyspace notifications (``notify-keyspace-events``): every change to a key published on
``__keyspace@<db>__:<key>`` (the event as the message) and ``__keyevent@<db>__:<event>`` (the
key), ``<db>`` the number of the database the key is in, with Redis 7.0's event names and flag
letters. MOVE reports ``move_from`` in its source database and ``new``, ``move_to`` in its
target; COPY ... DB reports in the target; SWAPDB and FLUSHALL report nothing per key.

The commands do not know about it. While notifications are off (the default) nothing here
runs: the dispatcher looks commands up in the plain table. Turning them on gives the
dispatcher a table whose write commands (and, with ``m``, the reads that report misses) are
wrapped: the wrapper notes which of the command's keys exist before it runs, runs it, and
derives the events from its arguments, its reply and the keys after it, as Redis's commands
emit them (``new`` before the command's own event; ``set`` then ``expire`` for ``SET .. EX``;
``rename_from`` then ``rename_to``; ``del`` only for keys that existed). Expired and evicted
keys are reported by the keyspace itself, through its ``notify`` hook, set only while their
class (``x``, ``e``) is on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kvstore.commands.context import ServerState, Session
from kvstore.commands.table import Args, Command, Handler
from kvstore.config.events import (
    EVICTED,
    EXPIRED,
    GENERIC,
    KEY_MISS,
    KEYEVENT,
    KEYSPACE,
    NEW,
    STRING,
)
from kvstore.keyspace import Keyspace
from kvstore.protocol.replies import OK, Reply

#: (class, event name, key), in the session's database, or with a fourth item, the number of
#: the database the event belongs to (MOVE's and COPY ... DB's target).
Event = tuple[int, str, bytes] | tuple[int, str, bytes, int]


class Notifier:
    """Publishes keyspace events on the server's channels, for the flags configured."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.flags = 0

    def configure(self, flags: int) -> None:
        self.flags = flags

    @property
    def active(self) -> bool:
        """Whether any event can be published at all (a class, and K or E)."""
        return bool(self.flags & (KEYSPACE | KEYEVENT)) and bool(
            self.flags & ~(KEYSPACE | KEYEVENT)
        )

    def publish(self, kind: int, event: str, key: bytes, db: int = 0) -> None:
        flags = self.flags
        if not flags & kind:
            return
        hub = self.state.pubsub
        name = event.encode()
        if flags & KEYSPACE:
            hub.publish(b"__keyspace@%d__:%b" % (db, key), name)
        if flags & KEYEVENT:
            hub.publish(b"__keyevent@%d__:%b" % (db, name), key)

    def keyspace_event(self, event: str, key: bytes, db: int = 0) -> None:
        """The keyspace's hook: a key expired or was evicted in database ``db``."""
        self.publish(EXPIRED if event == "expired" else EVICTED, event, key, db)

    def wrap_table(self, table: dict[bytes, Command]) -> dict[bytes, Command]:
        """``table`` with the commands that emit events wrapped to publish them."""
        wrapped = dict(table)
        for name, command in table.items():
            derive = _DERIVE.get(command.name)
            if derive is None and not (self.flags & KEY_MISS and command.name in _KEYMISS):
                continue
            handler = self._wrap(command, command.handler, derive)
            wrapped[name] = dataclasses.replace(command, handler=handler)
        return wrapped

    def _wrap(self, command: Command, handler: Handler, derive: Derive | None) -> Handler:
        first, last, step = command.first_key, command.last_key, command.key_step
        reports_misses = command.name in _KEYMISS

        def notifying(session: Session, args: Args) -> Reply:
            db = session.db
            end = len(args) if last < 0 else last + 1
            keys = args[first:end:step] if step else []
            before = [db.entry(key) for key in keys]
            reply = handler(session, args)
            if reports_misses and self.flags & KEY_MISS:
                for key, found in zip(keys, before, strict=True):
                    if found is None:
                        self.publish(KEY_MISS, "keymiss", key, db.index)
            if derive is not None:
                for kind, event, key, *elsewhere in derive(db, args, reply, keys, before):
                    self.publish(kind, event, key, elsewhere[0] if elsewhere else db.index)
            return reply

        return notifying


Before = list[tuple[bytes, int | None] | None]
Derive = Callable[[Keyspace, Args, Reply, Args, Before], list[Event]]


def _new(db: Keyspace, key: bytes, existed: object) -> list[Event]:
    # ``holds``, not ``contains``: a key stored with a deadline already past (SET k v PX 1 on
    # a busy server) must not expire, and say so, before the command's own events.
    return [(NEW, "new", key)] if existed is None and db.holds(key) else []


def _set(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    key = args[1]
    options = [word.upper() for word in args[3:]]
    if reply is None and b"GET" not in options:
        return []  # NX or XX: nothing stored
    existed = before[0]
    if (b"NX" in options and existed is not None) or (b"XX" in options and existed is None):
        return []
    events = [*_new(db, key, existed), (STRING, "set", key)]
    if {b"EX", b"PX", b"EXAT", b"PXAT"} & set(options):
        events.append((GENERIC, "expire", key))
    return events


def _stored(
    event: str, *, expire: bool = False, when: Callable[[Reply], bool] | None = None
) -> Derive:
    """A command that writes its one key (``event``), then gives it a deadline (``expire``)."""

    def derive(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
        if when is not None and not when(reply):
            return []
        key = keys[0]
        events = [*_new(db, key, before[0]), (STRING, event, key)]
        if expire:
            events.append((GENERIC, "expire", key))
        return events

    return derive


def _each_set(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if reply == 0:  # MSETNX that stored nothing
        return []
    events: list[Event] = []
    seen: set[bytes] = set()
    for key, existed in zip(keys, before, strict=True):
        events += [] if key in seen else _new(db, key, existed)
        seen.add(key)
        events.append((STRING, "set", key))
    return events


def _setrange(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if not args[3]:
        return []
    return [*_new(db, args[1], before[0]), (STRING, "setrange", args[1])]


def _deleted(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    events: list[Event] = []
    for key, existed in dict(zip(keys, before, strict=True)).items():
        if existed is not None and not db.holds(key):
            events.append((GENERIC, "del", key))
    return events


def _expired_by(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if reply != 1:
        return []
    key = args[1]
    return [(GENERIC, "expire" if db.holds(key) else "del", key)]


def _persist(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    return [(GENERIC, "persist", args[1])] if reply == 1 else []


def _getex(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    key, existed = args[1], before[0]
    if existed is None or len(args) < 3:
        return []
    option = args[2].upper()
    if option == b"PERSIST":
        return [(GENERIC, "persist", key)] if existed[1] is not None else []
    return [(GENERIC, "expire" if db.holds(key) else "del", key)]


def _renamed(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if reply not in (OK, 1) or args[1] == args[2]:
        return []
    source, target = args[1], args[2]
    return [
        (NEW, "new", target),
        (GENERIC, "rename_from", source),
        (GENERIC, "rename_to", target),
    ]


def _copied(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if reply != 1:
        return []
    target = db.index
    options = [word.upper() for word in args[3:]]
    if b"DB" in options:  # the command accepted it: a number follows
        target = int(args[3 + options.index(b"DB") + 1])
    return [(NEW, "new", args[2], target), (GENERIC, "copy_to", args[2], target)]


def _moved(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    """As Redis: ``new`` and ``move_to`` in the target database, ``move_from`` in the source."""
    if reply != 1:
        return []
    key, target = args[1], int(args[2])
    return [
        (NEW, "new", key, target),
        (GENERIC, "move_from", key),
        (GENERIC, "move_to", key, target),
    ]


def _getdel(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    return [(GENERIC, "del", args[1])] if reply is not None else []


def _setbit(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if reply == int(args[3]):  # the bit already had that value: nothing changed
        return []
    return [*_new(db, args[1], before[0]), (STRING, "setbit", args[1])]


def _bitop(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    target = args[2]
    misses: list[Event] = [
        (KEY_MISS, "keymiss", key)
        for key, found in zip(keys[1:], before[1:], strict=True)
        if found is None
    ]
    if reply:  # a result stored
        return [*misses, *_new(db, target, before[0]), (STRING, "set", target)]
    return [*misses, (GENERIC, "del", target)] if before[0] is not None else misses


def _bitfield(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    if not {b"SET", b"INCRBY"} & {word.upper() for word in args[2:]}:  # read only
        return [(KEY_MISS, "keymiss", args[1])] if before[0] is None else []
    return [*_new(db, args[1], before[0]), (STRING, "setbit", args[1])]


def _restored(db: Keyspace, args: Args, reply: Reply, keys: Args, before: Before) -> list[Event]:
    return [(NEW, "new", args[1]), (GENERIC, "restore", args[1])]


_DERIVE: dict[str, Derive] = {
    "setbit": _setbit,
    "bitop": _bitop,
    "bitfield": _bitfield,
    "restore": _restored,
    "set": _set,
    "setnx": _stored("set", when=lambda reply: reply == 1),
    "setex": _stored("set", expire=True),
    "psetex": _stored("set", expire=True),
    "getset": _stored("set"),
    "mset": _each_set,
    "msetnx": _each_set,
    "append": _stored("append"),
    "setrange": _setrange,
    "incr": _stored("incrby"),
    "decr": _stored("incrby"),
    "incrby": _stored("incrby"),
    "decrby": _stored("incrby"),
    "incrbyfloat": _stored("incrbyfloat"),
    "getdel": _getdel,
    "getex": _getex,
    "del": _deleted,
    "unlink": _deleted,
    "expire": _expired_by,
    "pexpire": _expired_by,
    "expireat": _expired_by,
    "pexpireat": _expired_by,
    "persist": _persist,
    "rename": _renamed,
    "renamenx": _renamed,
    "copy": _copied,
    "move": _moved,
}
#: The reads that report a missing key as ``keymiss`` (class ``m``), as Redis's lookups do.
_KEYMISS = frozenset(
    {"get", "mget", "getrange", "strlen", "getdel", "getex", "getset", "ttl", "pttl", "type"}
    | {"expiretime", "pexpiretime", "substr", "exists", "getbit", "bitcount", "bitpos"}
    | {"bitfield_ro", "lcs", "dump"}
)
