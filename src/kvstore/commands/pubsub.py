"""Publish/subscribe: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH,
SPUBLISH and PUBSUB, with Redis 7.0's replies.

Each (un)subscription is confirmed by a push ``[kind, channel, count]`` (an array in RESP2,
RESP3's push type), one per channel, as Redis. A RESP2 connection with any subscription may run
only the commands of :data:`SUBSCRIBED_CONTEXT` (the dispatcher refuses the rest with Redis's
error); a RESP3 connection may run anything. The text protocol cannot carry pushes: subscribing
there is refused (PUBLISH works).
"""

from __future__ import annotations

from collections.abc import Hashable

from kvstore.commands.context import Session, Subscriptions
from kvstore.commands.glob import glob_matches
from kvstore.commands.pubsub_hub import PubSubHub, PushFn
from kvstore.commands.table import (
    SUBCOMMAND_TABLES,
    Args,
    KeySpec,
    Subcommands,
    command,
    dispatch_subcommand,
)
from kvstore.protocol.replies import Push, Replies, Reply, ReplyError, Status

#: The commands a RESP2 connection in subscribed state may run (as Redis's processCommand).
SUBSCRIBED_CONTEXT = frozenset(
    {"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"}
    | {"ping", "quit", "reset"}
)

TEXT_REFUSAL = ReplyError(
    "ERR the text protocol cannot receive pushed messages: subscribe over RESP "
    "(redis-cli, redis-py, the kvstore library)"
)


def subscribed_context_error(name: str, args: Args | None = None) -> ReplyError:
    """Redis's refusal, naming a subcommand by its full name (``client|reply``)."""
    if (
        args is not None
        and len(args) > 1
        and args[1].lower() in SUBCOMMAND_TABLES.get(name.encode(), {})
    ):
        name = f"{name}|{args[1].lower().decode('utf-8', 'replace')}"
    return ReplyError(
        f"ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        "RESET are allowed in this context"
    )


def refresh_context(session: Session) -> None:
    """After a change of subscriptions or protocol: forget empty subscriptions, and restrict a
    subscribed RESP2 connection to the pub/sub commands (see the dispatcher)."""
    subs = session.subscriptions
    if subs is not None and not (subs.channels or subs.patterns or subs.shard_channels):
        session.subscriptions = subs = None
    session.authenticated = subs is None or session.protocol == 3


def _subscriptions(session: Session) -> tuple[Subscriptions, PushFn]:
    push = session.push
    if push is None:
        raise TEXT_REFUSAL
    if session.subscriptions is None:
        session.subscriptions = Subscriptions()
    return session.subscriptions, push


def _count(subs: Subscriptions | None, shard: bool) -> int:
    if subs is None:
        return 0
    return len(subs.shard_channels) if shard else len(subs.channels) + len(subs.patterns)


def _subscribe(session: Session, args: Args, kind: str) -> Reply:
    subs, push = _subscriptions(session)
    hub = session.server.pubsub
    mine, table, shard = _tables(subs, hub, kind)
    confirmations = Replies()
    for name in args[1:]:  # each confirmed with the count at that point, as Redis
        if name not in mine:
            mine[name] = None
            hub.add(table, name, session, push)
        confirmations.append(Push([kind.encode(), name, _count(subs, shard)]))
    refresh_context(session)
    return confirmations


def _unsubscribe(session: Session, args: Args, kind: str) -> Reply:
    hub = session.server.pubsub
    subs = session.subscriptions
    shard = kind == "sunsubscribe"
    confirmations = Replies()
    if subs is None:
        if len(args) == 1:
            return Replies([Push([kind.encode(), None, 0])])
        subs = Subscriptions()
    mine, table, _ = _tables(subs, hub, kind)
    names = list(mine) if len(args) == 1 else args[1:]
    if not names:
        confirmations.append(Push([kind.encode(), None, _count(subs, shard)]))
    for name in names:
        if name in mine:
            del mine[name]
            hub.remove(table, name, session)
        confirmations.append(Push([kind.encode(), name, _count(subs, shard)]))
    if session.subscriptions is not None:
        refresh_context(session)
    return confirmations


def _tables(
    subs: Subscriptions, hub: PubSubHub, kind: str
) -> tuple[dict[bytes, None], dict[bytes, dict[Hashable, PushFn]], bool]:
    if kind in ("psubscribe", "punsubscribe"):
        return subs.patterns, hub.patterns, False
    if kind in ("ssubscribe", "sunsubscribe"):
        return subs.shard_channels, hub.shard_channels, True
    return subs.channels, hub.channels, False


_FLAGS = "pubsub noscript loading stale"


@command("subscribe", -2, _FLAGS, group="pubsub", summary="Listen for messages on channels.")
def subscribe(session: Session, args: Args) -> Reply:
    return _subscribe(session, args, "subscribe")


@command(
    "psubscribe", -2, _FLAGS, group="pubsub", summary="Listen for messages on channel patterns."
)
def psubscribe(session: Session, args: Args) -> Reply:
    return _subscribe(session, args, "psubscribe")


@command(
    "ssubscribe",
    -2,
    _FLAGS,
    group="pubsub",
    summary="Listen for messages on shard channels.",
    keys=(1, -1, 1),
    key_specs=(KeySpec(("not_key",), 1, -1),),
)
def ssubscribe(session: Session, args: Args) -> Reply:
    return _subscribe(session, args, "ssubscribe")


@command("unsubscribe", -1, _FLAGS, group="pubsub", summary="Stop listening on channels.")
def unsubscribe(session: Session, args: Args) -> Reply:
    return _unsubscribe(session, args, "unsubscribe")


@command("punsubscribe", -1, _FLAGS, group="pubsub", summary="Stop listening on channel patterns.")
def punsubscribe(session: Session, args: Args) -> Reply:
    return _unsubscribe(session, args, "punsubscribe")


@command(
    "sunsubscribe",
    -1,
    _FLAGS,
    group="pubsub",
    summary="Stop listening on shard channels.",
    keys=(1, -1, 1),
    key_specs=(KeySpec(("not_key",), 1, -1),),
)
def sunsubscribe(session: Session, args: Args) -> Reply:
    return _unsubscribe(session, args, "sunsubscribe")


@command(
    "publish",
    3,
    "pubsub loading stale fast",
    group="pubsub",
    summary="Post a message to a channel.",
)
def publish(session: Session, args: Args) -> Reply:
    return session.server.pubsub.publish(args[1], args[2])


@command(
    "spublish",
    3,
    "pubsub loading stale fast",
    group="pubsub",
    summary="Post a message to a shard channel.",
    keys=(1, 1, 1),
    key_specs=(KeySpec(("not_key",), 1),),
)
def spublish(session: Session, args: Args) -> Reply:
    return session.server.pubsub.spublish(args[1], args[2])


# -- PUBSUB --------------------------------------------------------------------------------------


def _matching(names: dict[bytes, object], args: Args) -> Reply:
    if len(args) == 2:
        return list(names)
    return [name for name in names if glob_matches(args[2], name)]


def _pubsub_channels(session: Session, args: Args) -> Reply:
    return _matching(session.server.pubsub.channels, args)  # type: ignore[arg-type]


def _pubsub_shardchannels(session: Session, args: Args) -> Reply:
    return _matching(session.server.pubsub.shard_channels, args)  # type: ignore[arg-type]


def _pubsub_numsub(session: Session, args: Args) -> Reply:
    channels = session.server.pubsub.channels
    reply: list[Reply] = []
    for name in args[2:]:
        reply += [name, len(channels.get(name, ()))]
    return reply


def _pubsub_shardnumsub(session: Session, args: Args) -> Reply:
    channels = session.server.pubsub.shard_channels
    reply: list[Reply] = []
    for name in args[2:]:
        reply += [name, len(channels.get(name, ()))]
    return reply


def _pubsub_numpat(session: Session, args: Args) -> Reply:
    return len(session.server.pubsub.patterns)


_HELP = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]


def _pubsub_help(session: Session, args: Args) -> Reply:
    return [Status(line) for line in _HELP]


_PUBSUB: Subcommands = {
    b"channels": (-2, _pubsub_channels),
    b"shardchannels": (-2, _pubsub_shardchannels),
    b"numsub": (-2, _pubsub_numsub),
    b"shardnumsub": (-2, _pubsub_shardnumsub),
    b"numpat": (2, _pubsub_numpat),
    b"help": (2, _pubsub_help),
}
SUBCOMMAND_TABLES[b"pubsub"] = _PUBSUB


@command("pubsub", -2, "", group="pubsub", summary="Inspect the channels and subscriptions.")
def pubsub(session: Session, args: Args) -> Reply:
    return dispatch_subcommand(_PUBSUB, session, args)
