"""The compiled fields of a session against the pure ones: the same values in, the same out.

``SessionFields`` holds what the dispatcher reads of a session on every request; compiled,
those are C fields (an ``int``, flags, a list, a string). Every value the server gives them
(RESP 2 or 3, the flags, a transaction's queue or none, a command's name) must read back the
same from both builds, and a :class:`Session` must start with the same values on either. How
the dispatcher uses them is compared in tests/test_compiled_dispatch.py. Skipped only where
the compiled build is not built.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from compiled_support import compiled_twin
from kvstore import build
from kvstore.commands import ServerState, Session
from kvstore.commands import session_fields as pure

compiled, pytestmark = compiled_twin(pure)

values = st.fixed_dictionaries(
    {
        "protocol": st.sampled_from([2, 3]),
        "authenticated": st.booleans(),
        "queued": st.one_of(st.none(), st.lists(st.lists(st.binary(max_size=4), max_size=3))),
        "last_command": st.sampled_from(["", "get", "client", "exec"]),
        "close_after_reply": st.booleans(),
        "reply_suppressed": st.booleans(),
    }
)


def _stored(cls: Any, fields: dict[str, Any]) -> dict[str, Any]:
    holder = cls()
    for name, value in fields.items():
        setattr(holder, name, value)
    return {name: getattr(holder, name) for name in fields}


@given(fields=values)
def test_the_same_values_read_back(fields: dict[str, Any]) -> None:
    assert compiled is not None
    assert _stored(compiled.SessionFields, fields) == _stored(pure.SessionFields, fields) == fields


def test_a_session_starts_alike_in_the_build_in_use() -> None:
    assert compiled is not None
    expected = compiled.SessionFields if build.COMPILED else pure.SessionFields
    assert Session.__mro__[1] is expected
    for requirepass in (None, b"secret"):
        session = Session(ServerState(requirepass=requirepass))
        assert (session.protocol, session.authenticated, session.queued) == (
            2,
            requirepass is None,
            None,
        )
        assert (session.last_command, session.close_after_reply, session.reply_suppressed) == (
            "",
            False,
            False,
        )
