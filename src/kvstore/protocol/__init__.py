"""Sans-I/O codecs shared by the server and the client: RESP and the text line protocol.

:func:`encode_reply` and :func:`encode_into` are those of the build in use
(:mod:`kvstore.build` decides): in the compiled build, ``resp_replies``' compiled with Cython;
in the pure build, the pure-Python functions themselves. Same code, same bytes.
"""

from typing import TYPE_CHECKING

from kvstore import build
from kvstore.build import hiredis_available
from kvstore.protocol import resp_replies as _pure_replies
from kvstore.protocol.errors import ProtocolError
from kvstore.protocol.parsers import RequestParser, make_request_parser
from kvstore.protocol.replies import OK, PONG, QUEUED, Reply, ReplyError, Status
from kvstore.protocol.resp import encode_request
from kvstore.protocol.resp_replies import ReplyParser, make_reply_parser
from kvstore.protocol.resp_requests import RequestLimits

if TYPE_CHECKING:  # the two builds' functions have one signature: the pure module's
    from kvstore.protocol.resp_replies import encode_into as encode_into
    from kvstore.protocol.resp_replies import encode_reply as encode_reply
else:
    encode_reply = build.choose(_pure_replies).encode_reply
    encode_into = build.choose(_pure_replies).encode_into

__all__ = [
    "OK",
    "PONG",
    "QUEUED",
    "ProtocolError",
    "Reply",
    "ReplyError",
    "ReplyParser",
    "RequestLimits",
    "RequestParser",
    "Status",
    "encode_into",
    "encode_reply",
    "encode_request",
    "hiredis_available",
    "make_reply_parser",
    "make_request_parser",
]
