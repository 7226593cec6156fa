"""What each connection is given: the parts of the server it uses, and nothing else.

Built once by the assembly (:func:`kvstore.server.assembly.assemble`) and shared by every
connection; frozen, so no part is swapped under a running connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.commands import Dispatcher, ServerState
from kvstore.protocol import RequestLimits
from kvstore.replication import Replication
from kvstore.server.held import HeldReplies
from kvstore.server.paused import PausedClients
from kvstore.server.protection import Admission
from kvstore.server.registry import Registry


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    #: The state every session belongs to.
    state: ServerState
    #: Runs every request (the one dispatcher, configured once).
    dispatcher: Dispatcher
    #: Admits and forgets connections, counts their memory, holds the output limit, and logs
    #: clients turned away or cut off.
    registry: Registry
    #: Protected mode: whether a new client may stay.
    admission: Admission
    request_limits: RequestLimits
    #: Parse RESP with hiredis (else the pure-Python parser).
    use_hiredis: bool
    #: Where replies wait for the log; None with persistence off.
    held: HeldReplies | None
    #: Connections holding requests while CLIENT PAUSE is on.
    paused: PausedClients
    #: Where write replies wait for a replica's acknowledgement (None: in unit tests).
    replication: Replication | None = None
