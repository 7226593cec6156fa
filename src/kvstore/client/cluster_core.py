"""The sans-I/O part of the cluster clients: which node serves a call, and what to do when a
node redirects it (Redis Cluster's contract: a slot map from CLUSTER SLOTS, MOVED updates it,
ASK sends ASKING then the call to the node importing the slot, once).

A call's route is a generator (:data:`Routing`) that yields ``(address, calls)`` for its
driver to run on that node's connection, and is resumed with their results (an error reply
as its :class:`ResponseError`, not raised); a node that cannot be reached, or does not answer
in time, is thrown into it as :class:`ConnectionError` or :class:`TimeoutError`. It may also
yield a :class:`Pause`: the driver waits that long and resumes it with no results. The sync
and the asyncio cluster clients differ only in how they drive it.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from kvstore.client.address import Address
from kvstore.client.calls import Call, raw
from kvstore.client.errors import ConnectionError, KvstoreError, ResponseError, TimeoutError
from kvstore.slots import SLOTS, key_slot


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` before the next step (a retry after a failure)."""

    seconds: float


#: Yields the node and the calls to run there (resumed with their results), or a pause.
Routing: TypeAlias = Generator[tuple[Address, list[Call[Any]]] | Pause, list[Any], Any]

#: Redirections (MOVED, ASK) and retries (TRYAGAIN) one call may go through before it fails.
MAX_REDIRECTS = 16

#: The waits before each new attempt at a call whose node could not be reached or whose
#: cluster answered CLUSTERDOWN: about 8 s in all, longer than a failover takes (a primary's
#: lease lapses after 3 s, and its replica takes over at once).
RETRY_PAUSES = (0.1, 0.2, 0.4, 0.8, 1.5, 1.5, 1.5, 1.5)

ASKING = Call((b"ASKING",), raw)
CLUSTER_SLOTS = Call((b"CLUSTER", b"SLOTS"), raw)

#: Commands that name no key: any node answers them (the first one known).
KEYLESS = frozenset(
    b"""ping echo publish info dbsize time command cluster config flushall flushdb keys scan
    randomkey client hello auth select save bgsave lastsave slowlog latency memory lolwut
    readonly readwrite asking multi exec discard unwatch function script wait quit reset
    shutdown monitor role debug pubsub""".split()
)


class ClusterError(KvstoreError):
    """The cluster could not serve a call: no node reachable, or too many redirections."""


def call_slot(call: Call[Any]) -> int | None:
    """The slot of the call's first key (None for a command that takes none): the server
    refuses with CROSSSLOT a command whose keys are in several slots."""
    args = call.args
    if len(args) < 2 or args[0].lower() in KEYLESS:
        return None
    return key_slot(args[1])


def redirection(error: ResponseError) -> tuple[str, int, Address] | None:
    """``(MOVED or ASK, slot, address)`` for a redirection error, else None."""
    words = error.message.split(" ")
    if len(words) != 3 or words[0] not in ("MOVED", "ASK") or not words[1].isdigit():
        return None
    host, _, port = words[2].rpartition(":")
    if not port.isdigit():
        return None
    return words[0], int(words[1]), Address(host.strip("[]"), int(port))


class SlotMap:
    """Which node serves each slot, as the cluster last said (CLUSTER SLOTS, MOVED)."""

    def __init__(self, seeds: Sequence[Address]) -> None:
        self.seeds = list(seeds)
        self._owners: list[Address | None] = [None] * SLOTS
        #: Set by a MOVED: the map is reloaded before the next call.
        self.stale = True

    def load(self, reply: Any, asked: Address) -> None:
        """Take a CLUSTER SLOTS reply (from ``asked``: a node with no host is that one)."""
        owners: list[Address | None] = [None] * SLOTS
        for entry in reply:
            first, last, primary = entry[0], entry[1], entry[2]
            host = primary[0].decode() if primary[0] else asked.host
            address = Address(host, int(primary[1]))
            owners[first : last + 1] = [address] * (last - first + 1)
            if address not in self.seeds:
                self.seeds.append(address)
        self._owners = owners
        self.stale = False

    def moved(self, slot: int, address: Address) -> None:
        self._owners[slot] = address
        self.stale = True

    def node_for(self, slot: int | None) -> Address:
        owner = None if slot is None else self._owners[slot]
        return owner if owner is not None else self.seeds[0]


def refresh(slots: SlotMap) -> Routing:
    """Reload the slot map from the first node that answers CLUSTER SLOTS."""
    failures = []
    for seed in list(slots.seeds):
        try:
            (reply,) = yield seed, [CLUSTER_SLOTS]
        except (ConnectionError, TimeoutError) as exc:
            failures.append(str(exc))
            continue
        if isinstance(reply, ResponseError):
            raise reply
        slots.load(reply, seed)
        return None
    raise ClusterError("no node of the cluster answers: " + "; ".join(failures))


def route(slots: SlotMap, call: Call[Any]) -> Routing:
    """Run ``call`` on the node serving its slot, following redirections."""
    if slots.stale:
        yield from refresh(slots)
    slot = call_slot(call)
    address = slots.node_for(slot)
    asking = False
    for _ in range(MAX_REDIRECTS):
        try:
            results = yield address, ([ASKING, call] if asking else [call])
        except (ConnectionError, TimeoutError):
            slots.stale = True  # the node failed: where the slot lives is worth asking again
            raise
        result = results[-1]
        if not isinstance(result, ResponseError):
            return result
        redirect = redirection(result)
        if redirect is not None:
            kind, moved_slot, address = redirect
            asking = kind == "ASK"
            if not asking:
                slots.moved(moved_slot, address)
            continue
        if result.code == "TRYAGAIN":  # a multi-key call while its slot moves: again
            asking = False
            address = slots.node_for(slot)
            continue
        raise result
    raise ClusterError(f"more than {MAX_REDIRECTS} redirections for {call.args[0]!r}")


def _worth_retrying(error: Exception) -> bool:
    """A failure that a failover (or a node's restart) mends: the node could not be reached
    or did not answer in time, no node answered, or the cluster is down for the moment."""
    if isinstance(error, ResponseError):
        return error.code == "CLUSTERDOWN"
    return isinstance(error, (ConnectionError, TimeoutError, ClusterError))


def route_with_retries(
    slots: SlotMap, call: Call[Any], pauses: Sequence[float] = RETRY_PAUSES
) -> Routing:
    """:func:`route`, attempted again after each pause in ``pauses`` while it fails in a way
    a failover mends, with the slot map reloaded first. A call that reached its node before
    the connection broke may so run twice (as with redis-py's retries)."""
    for pause in pauses:
        try:
            return (yield from route(slots, call))
        except (ConnectionError, TimeoutError, ClusterError, ResponseError) as error:
            if not _worth_retrying(error):
                raise
        slots.stale = True
        yield Pause(pause)
    return (yield from route(slots, call))


def _to_send_again(reply: Any) -> bool:
    """A reply in a batch that its call's own route must deal with: a redirection, or a
    refusal a retry mends."""
    if not isinstance(reply, ResponseError):
        return False
    return redirection(reply) is not None or reply.code in ("TRYAGAIN", "CLUSTERDOWN")


def route_batch(
    slots: SlotMap, calls: Sequence[Call[Any]], pauses: Sequence[float] = RETRY_PAUSES
) -> Routing:
    """Run ``calls`` (a pipeline) in one round trip per node: each goes to the node serving
    its slot; the ones then redirected, or whose node could not be reached, are run again one
    by one through :func:`route_with_retries`, in their order. The results come in the calls'
    order, an error reply standing as its :class:`ResponseError`."""
    if slots.stale:
        yield from refresh(slots)
    by_node: dict[Address, list[int]] = {}
    for index, call in enumerate(calls):
        by_node.setdefault(slots.node_for(call_slot(call)), []).append(index)
    results: list[Any] = [None] * len(calls)
    again: list[int] = []
    for address, indices in by_node.items():
        try:
            replies = yield address, [calls[index] for index in indices]
        except (ConnectionError, TimeoutError):
            slots.stale = True
            again.extend(indices)
            continue
        for index, reply in zip(indices, replies, strict=True):
            if _to_send_again(reply):
                moved = redirection(reply)
                if moved is not None and moved[0] == "MOVED":
                    slots.moved(moved[1], moved[2])
                again.append(index)
            else:
                results[index] = reply
    for index in sorted(again):
        try:
            results[index] = yield from route_with_retries(slots, calls[index], pauses)
        except ResponseError as error:
            results[index] = error
    return results
