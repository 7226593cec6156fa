"""Password checks for AUTH and HELLO AUTH: one user, ``default``, as Redis has without ACLs.

Passwords are compared in constant time, so the time a refusal takes says nothing about how
much of a guess was right.
"""

from __future__ import annotations

import hmac

from kvstore.commands.context import Session
from kvstore.protocol.replies import ReplyError

DEFAULT_USER = b"default"
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NO_PASSWORD_SET = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
HELLO_NOAUTH = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
    "protocol version at the same time"
)


def authenticate(session: Session, username: bytes | None, password: bytes) -> None:
    """Mark the session authenticated, or raise the error Redis answers.

    ``username`` is ``None`` for ``AUTH <password>``. A failed attempt leaves an already
    authenticated session authenticated, as in Redis.
    """
    required = session.server.requirepass
    if required is None:
        # No password: the default user takes any password; a bare password is a mistake.
        if username is None:
            raise ReplyError(NO_PASSWORD_SET)
        if username != DEFAULT_USER:
            raise ReplyError(WRONGPASS)
        return
    password_ok = hmac.compare_digest(password, required)
    if not password_ok or (username is not None and username != DEFAULT_USER):
        raise ReplyError(WRONGPASS)
    session.authenticated = True
