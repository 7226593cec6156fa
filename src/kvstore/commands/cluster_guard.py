"""Cluster mode's check of each request before it runs: is every key in one slot, and is that
slot served here? If not, Redis Cluster's redirections and refusals, in Redis's words (MOVED,
ASK, TRYAGAIN, CROSSSLOT, CLUSTERDOWN), decided from the command table's key specifications.

The dispatcher calls :meth:`ClusterGuard.refusal` once per command, and only in cluster mode
(see ``Dispatcher.guard_with``): outside it, no request pays anything for this.
"""

from __future__ import annotations

from collections.abc import Callable

from kvstore.commands.context import Session
from kvstore.commands.introspection import keys_of
from kvstore.commands.ports import ClusterMember, ClusterShard, ClusterView
from kvstore.commands.table import SUBCOMMAND_TABLES, Args, Command
from kvstore.protocol.replies import ReplyError
from kvstore.slots import key_slot

CROSSSLOT = ReplyError("CROSSSLOT Keys in request don't hash to the same slot")
TRYAGAIN = ReplyError("TRYAGAIN Multiple keys request during rehashing of slot")
UNBOUND = ReplyError("CLUSTERDOWN Hash slot not served")
DOWN = ReplyError("CLUSTERDOWN The cluster is down")
READS_ONLY = ReplyError("CLUSTERDOWN The cluster is down and only accepts read commands")

Lookup = Callable[[bytes], "Command | None"]


def request_keys(command: Command, args: Args) -> list[bytes]:
    """The keys ``args`` names, by the command's key specifications (a container command's
    by its subcommand's); shard channels count as keys, as Redis routes them by slot too."""
    specs = command.key_specs
    if command.name == "migrate":
        return keys_of(args)
    if not specs:
        if len(args) > 1 and args[0].lower() in SUBCOMMAND_TABLES:
            return keys_of(args)
        return []
    keys = []
    for spec in specs:
        last = spec.begin + spec.last if spec.last >= 0 else len(args) + spec.last
        keys.extend(args[spec.begin : min(last, len(args) - 1) + 1 : spec.step])
    return keys


def endpoint(member: ClusterMember, session: Session) -> str:
    """``host:port`` as redirections give it; a member with no host is reached at the
    address the client used (a lone node knows no better one)."""
    host = member.host or session.laddr.rpartition(":")[0].strip("[]") or "127.0.0.1"
    return f"{host}:{member.port}"


def _redirect(kind: str, slot: int, shard: ClusterShard | None, session: Session) -> ReplyError:
    primary = None if shard is None else shard.primary
    if primary is None:
        return UNBOUND
    return ReplyError(f"{kind} {slot} {endpoint(primary, session)}")


class ClusterGuard:
    """Checks requests against ``view``; ``lookup`` finds a queued command's table entry
    (EXEC's check covers every command queued since MULTI, as Redis's does)."""

    def __init__(self, view: ClusterView, lookup: Lookup) -> None:
        self.view = view
        self.lookup = lookup

    def refusal(self, session: Session, command: Command, args: Args) -> ReplyError | None:
        """Why ``args`` may not run here (None: it may)."""
        if session.applies_stream:  # a replica applies its primary's writes as they come
            return None
        if command.name != "exec":
            keys = request_keys(command, args)
            if not keys:
                return None  # any node serves it
            # The common case, decided at once: a slot this node serves as primary, not moving.
            slot = key_slot(keys[0])
            if (
                self.view.served_here[slot]
                and all(key_slot(key) == slot for key in keys[1:])
                and (not command.write or self.view.writable)
            ):
                return None
        if command.name == "exec":
            if session.queued is None:
                return None
            requests = []
            for queued in session.queued:
                entry = self.lookup(queued[0])
                if entry is not None:
                    requests.append((entry, queued))
        else:
            requests = [(command, args)]
        view = self.view
        slot = -1
        first_key = b""
        shard: ClusterShard | None = None
        multiple = migrating = importing = False
        writes = False
        missing = existing = 0
        for entry, request in requests:
            writes = writes or entry.write
            for key in request_keys(entry, request):
                here = key_slot(key)
                if slot < 0:
                    slot, first_key = here, key
                    shard = view.owner(slot)
                    if shard is None:
                        return UNBOUND
                    mine = view.my_shard()
                    primary = shard.primary
                    migrating = (
                        primary is not None and primary.id == view.my_id and slot in shard.migrating
                    )
                    importing = mine is not None and slot in mine.importing
                elif here != slot:
                    return CROSSSLOT
                elif key != first_key:
                    multiple = True
                if migrating or importing:
                    if session.db.contains(key):
                        existing += 1
                    else:
                        missing += 1
        if shard is None:
            return None  # no keys: any node serves it
        primary = shard.primary
        if writes and not view.writable and primary is not None and primary.id == view.my_id:
            return READS_ONLY  # its leadership lapsed (a replica redirects writes instead)
        if (migrating or importing) and command.name == "migrate":
            return None  # moves keys of an open slot wherever they are, as Redis allows
        if migrating and missing:
            if existing:
                return TRYAGAIN
            target = _shard(view, shard.migrating[slot])
            return _redirect("ASK", slot, target, session)
        if importing and (session.asking or "asking" in command.flags):  # RESTORE-ASKING
            return TRYAGAIN if multiple and missing else None
        if primary is not None and primary.id == view.my_id:
            return None
        if session.readonly and not writes and _replica_of(view, shard):
            return None
        return _redirect("MOVED", slot, shard, session)


def _shard(view: ClusterView, shard_id: str) -> ClusterShard | None:
    for shard in view.shards:
        if shard.id == shard_id:
            return shard
    return None


def _replica_of(view: ClusterView, shard: ClusterShard) -> bool:
    return any(m.id == view.my_id and m.role == "replica" for m in shard.members)
