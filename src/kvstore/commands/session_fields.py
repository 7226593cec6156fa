"""The fields of a session that the dispatcher reads or writes on every request, as the base
class of :class:`~kvstore.commands.context.Session`: compiled, they are C fields that the
compiled dispatcher reads as such (a Python object's attribute costs it a generic look-up,
about 140 instructions, five or six times a request). Everything else about a session is in
``context.py``.

A leaf: it imports nothing, so the command layer's modules may all build on it.
"""

from __future__ import annotations


class SessionFields:
    """What the dispatcher reads of a session per request; set by ``Session.__post_init__``."""

    #: RESP version, switched by HELLO.
    protocol: int
    #: Whether commands other than ``noauth`` ones may run: true from the start when no
    #: password is set, else once AUTH succeeds. False also while a RESP2 connection is
    #: subscribed (only the pub/sub commands may run then).
    authenticated: bool
    #: Commands queued since MULTI (each as its arguments); None when no transaction is open.
    queued: list[list[bytes]] | None
    #: The name of the last command run (CLIENT LIST's ``cmd``).
    last_command: str
    #: Set by QUIT: the connection closes once this command's reply is written.
    close_after_reply: bool
    #: Set by SHUTDOWN: close without writing this command's reply, as Redis does.
    reply_suppressed: bool
    #: CLIENT REPLY OFF or SKIP is in force: the dispatcher asks ``drops_reply`` about each
    #: reply (one test per request while it is not).
    muted: bool
