"""The channels of publish/subscribe: who listens to what, and delivering a message to them.

A leaf of the command layer (it knows no session): a subscriber is any hashable object, given
with the function that writes a push to its connection (:attr:`Session.push`). Delivering is
synchronous and cheap: the push function encodes the message for its connection and writes it
(or appends it to the reply batch that connection is building), as Redis appends a message to
each subscriber's output buffer inside PUBLISH. With nobody subscribed, PUBLISH costs two dict
look-ups and a loop over no patterns.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from kvstore.commands.glob import glob_matches
from kvstore.protocol.replies import Push, Reply

PushFn = Callable[[Reply], None]

_MESSAGE = b"message"
_PMESSAGE = b"pmessage"
_SMESSAGE = b"smessage"


class PubSubHub:
    """Channel, pattern and shard-channel subscriptions of every connection."""

    __slots__ = ("channels", "patterns", "shard_channels")

    def __init__(self) -> None:
        #: Channel -> its subscribers (a dict as an ordered set), each with its push function.
        self.channels: dict[bytes, dict[Hashable, PushFn]] = {}
        #: Pattern -> its subscribers.
        self.patterns: dict[bytes, dict[Hashable, PushFn]] = {}
        #: Shard channel -> its subscribers (SSUBSCRIBE; one shard here, so only the kind of
        #: message and the counters differ from channels).
        self.shard_channels: dict[bytes, dict[Hashable, PushFn]] = {}

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver ``message`` to the subscribers of ``channel`` and of every pattern matching
        it; the number of deliveries (a client subscribed both ways counts twice, as Redis)."""
        receivers = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            push = Push((_MESSAGE, channel, message))
            for deliver in list(subscribers.values()):
                deliver(push)
            receivers += len(subscribers)
        if self.patterns:
            for pattern, subscribers in list(self.patterns.items()):
                if glob_matches(pattern, channel):
                    push = Push((_PMESSAGE, pattern, channel, message))
                    for deliver in list(subscribers.values()):
                        deliver(push)
                    receivers += len(subscribers)
        return receivers

    def spublish(self, channel: bytes, message: bytes) -> int:
        subscribers = self.shard_channels.get(channel)
        if not subscribers:
            return 0
        push = Push((_SMESSAGE, channel, message))
        for deliver in list(subscribers.values()):
            deliver(push)
        return len(subscribers)

    @staticmethod
    def add(
        table: dict[bytes, dict[Hashable, PushFn]], name: bytes, who: Hashable, push: PushFn
    ) -> None:
        table.setdefault(name, {})[who] = push

    @staticmethod
    def remove(table: dict[bytes, dict[Hashable, PushFn]], name: bytes, who: Hashable) -> None:
        subscribers = table.get(name)
        if subscribers is not None:
            subscribers.pop(who, None)
            if not subscribers:
                del table[name]
