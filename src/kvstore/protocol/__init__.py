"""Sans-I/O codecs shared by the server and the client: RESP and the text line protocol."""

from kvstore.build import hiredis_available
from kvstore.protocol.errors import ProtocolError
from kvstore.protocol.parsers import RequestParser, make_request_parser
from kvstore.protocol.replies import OK, PONG, QUEUED, Reply, ReplyError, Status
from kvstore.protocol.resp import encode_request
from kvstore.protocol.resp_replies import ReplyParser, encode_reply, make_reply_parser
from kvstore.protocol.resp_requests import RequestLimits

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
    "encode_reply",
    "encode_request",
    "hiredis_available",
    "make_reply_parser",
    "make_request_parser",
]
