"""The RESP request parser of the build in use (:mod:`kvstore.build` decides which).

In the compiled build :class:`RequestParser` is ``resp_requests.RequestParser`` compiled with
Cython; in the pure build it is the pure-Python class itself. Same code, same behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore import build
from kvstore.protocol import resp_requests as pure
from kvstore.protocol.resp_requests import RequestDecoder, RequestLimits, hiredis_available

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


def parser_in_use(choice: str) -> str:
    """What ``--parser`` ``choice`` (auto, python, hiredis) runs: ``hiredis``, ``compiled``
    (kvstore's own parser, compiled) or ``python`` (the same, interpreted).

    ``auto`` is the compiled parser in the compiled build (measured in docs/builds.md: faster
    than the hiredis path for single requests, within a few per cent for pipelines, and no
    second parser's rules); in the pure build, hiredis when installed."""
    if choice == "hiredis" or (choice == "auto" and not build.COMPILED and hiredis_available()):
        return "hiredis"
    return "compiled" if build.COMPILED else "python"


def make_request_parser(
    limits: RequestLimits | None = None, *, use_hiredis: bool
) -> RequestDecoder:
    if use_hiredis:
        return HiredisRequestParser(limits)
    return RequestParser(limits)
