"""The RESP request parser of the build in use (:mod:`kvstore.build` decides which).

In the compiled build :class:`RequestParser` is ``resp_requests.RequestParser`` compiled with
Cython; in the pure build it is the pure-Python class itself. Same code, same behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore import build
from kvstore.protocol import resp_requests as pure
from kvstore.protocol.resp_requests import RequestDecoder, RequestLimits

if TYPE_CHECKING:  # the two builds' classes have one interface: the pure module's
    from kvstore.protocol.resp_requests import (
        HiredisRequestParser as HiredisRequestParser,  # noqa: PLC0414 - re-exported
    )
    from kvstore.protocol.resp_requests import (
        RequestParser as RequestParser,  # noqa: PLC0414 - re-exported
    )
else:
    _requests = build.choose(pure)
    RequestParser = _requests.RequestParser
    HiredisRequestParser = _requests.HiredisRequestParser


def make_request_parser(
    limits: RequestLimits | None = None, *, use_hiredis: bool
) -> RequestDecoder:
    if use_hiredis:
        return HiredisRequestParser(limits)
    return RequestParser(limits)
