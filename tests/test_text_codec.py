"""The text line protocol's codec: line splitting, request parsing and reply rendering."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.commands import UnknownCommandError
from kvstore.protocol.replies import OK, Reply, ReplyError, Status
from kvstore.protocol.text import (
    MAX_LINE,
    Line,
    LineParser,
    TextRequestError,
    encode_text_reply,
    error_line,
    parse_request,
    render_text,
)


def feed_all(parser: LineParser, chunks: Iterable[bytes]) -> list[Line]:
    lines: list[Line] = []
    for chunk in chunks:
        lines.extend(parser.feed(chunk))
    return lines


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# -- LineParser ------------------------------------------------------------------------------


def test_lines_and_their_terminators() -> None:
    parser = LineParser()
    assert parser.feed(b"put a 1\nget a\r\n\n\r\nrest") == [
        Line(b"put a 1", False),
        Line(b"get a", True),
        Line(b"", False),
        Line(b"", True),
    ]
    assert parser.feed(b" of it\r") == []
    assert parser.feed(b"\n") == [Line(b"rest of it", True)]
    assert parser.error is None


def test_a_carriage_return_inside_a_line_is_kept() -> None:
    assert LineParser().feed(b"set a x\ry\n") == [Line(b"set a x\ry", False)]


def test_line_length_limit_on_complete_lines() -> None:
    parser = LineParser(max_line=10)
    assert parser.feed(b"0123456789\n0123456789\r\n") == [
        Line(b"0123456789", False),
        Line(b"0123456789", True),
    ]
    assert parser.feed(b"ok\n01234567890\nnever\n") == [Line(b"ok", False)]
    assert parser.error is not None
    assert parser.error.message == "request too long"
    assert parser.feed(b"more\n") == []


def test_line_length_limit_on_a_partial_line() -> None:
    parser = LineParser(max_line=10)
    assert parser.feed(b"0123456789\r") == []  # could still end as a CRLF
    assert parser.error is None
    assert parser.feed(b"\n") == [Line(b"0123456789", True)]
    assert parser.feed(b"0123456789") == []
    assert parser.feed(b"ab") == []
    assert parser.error is not None
    assert parser.error.message == "request too long"


def test_default_limit_is_64_kib() -> None:
    assert MAX_LINE == 64 * 1024
    longest = b"set k " + b"v" * (MAX_LINE - 6)
    assert LineParser().feed(longest + b"\r\n") == [Line(longest, True)]
    parser = LineParser()
    assert parser.feed(longest + b"v\n") == []
    assert parser.error is not None
    parser = LineParser()
    fed = 0
    while parser.error is None and fed < 2 * MAX_LINE:  # a partial line trips it as it grows
        parser.feed(b"v" * 4096)
        fed += 4096
    assert MAX_LINE < fed <= MAX_LINE + 4096 + 1


# Lines as the protocol carries them: no "\n", and no trailing "\r" (it would read as a CRLF).
_line_text = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))


@settings(max_examples=200)
@given(
    lines=st.lists(st.tuples(_line_text, st.booleans()), max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=10),
)
def test_any_chunking_gives_the_same_lines(
    lines: list[tuple[bytes, bool]], cuts: list[int]
) -> None:
    data = b"".join(text + (b"\r\n" if crlf else b"\n") for text, crlf in lines)
    expected = [Line(text, crlf) for text, crlf in lines]
    assert feed_all(LineParser(), [data]) == expected
    assert feed_all(LineParser(), split_at(data, cuts)) == expected


# -- parse_request ---------------------------------------------------------------------------


def test_put_is_set_nx_with_its_own_rendering() -> None:
    request = parse_request(b"put k v")
    assert request.args == [b"SET", b"k", b"v", b"NX"]
    assert request.render(OK) == OK
    assert request.render(None) == Status("Key already exists")
    assert not request.goodbye


def test_set_get_del() -> None:
    assert parse_request(b"set k v").args == [b"SET", b"k", b"v"]
    assert parse_request(b"set k v").render(OK) == OK
    get = parse_request(b"get k")
    assert get.args == [b"GET", b"k"]
    assert get.render(b"v") == b"v"
    assert get.render(None) == Status("Key not found")
    assert parse_request(b"get k ignored value").args == [b"GET", b"k"]
    delete = parse_request(b"del k")
    assert delete.args == [b"DEL", b"k"]
    assert delete.render(1) == OK
    assert delete.render(0) == Status("Key not found")


def test_value_is_the_rest_of_the_line() -> None:
    assert parse_request(b"put k hello  big world").args == [
        b"SET",
        b"k",
        b"hello  big world",
        b"NX",
    ]
    assert parse_request(b"  set \t k \t a b").args == [b"SET", b"k", b"a b"]


@pytest.mark.parametrize("line", [b"Bye", b"bye", b"BYE", b"quit", b" Bye "])
def test_bye_ends_the_session(line: bytes) -> None:
    request = parse_request(line)
    assert request.goodbye
    assert request.args == [b"QUIT"]
    assert request.render(OK) == Status("Goodbye")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", "empty request"),
        (b"   \t ", "empty request"),
        (b"put", "wrong number of arguments for 'put'"),
        (b"put k", "wrong number of arguments for 'put'"),
        (b"put k   ", "wrong number of arguments for 'put'"),
        (b"set k", "wrong number of arguments for 'set'"),
        (b"get", "wrong number of arguments for 'get'"),
        (b"del", "wrong number of arguments for 'del'"),
        (b"del a b", "wrong number of arguments for 'del'"),
        (b"Bye now", "wrong number of arguments for 'Bye'"),
    ],
)
def test_lines_that_are_not_requests(line: bytes, message: str) -> None:
    with pytest.raises(TextRequestError) as caught:
        parse_request(line)
    assert str(caught.value).startswith(message)


def test_other_commands_are_words() -> None:
    request = parse_request(b"EXISTS a  b")
    assert request.args == [b"EXISTS", b"a", b"b"]
    assert request.render(2) == 2
    assert parse_request(b"ping").args == [b"ping"]


_blank = b" \t\x0b\x0c\r\n"
_words = st.binary(min_size=1, max_size=12).filter(lambda w: not any(b in _blank for b in w))
_values = st.binary(min_size=1, max_size=30).filter(
    lambda v: b"\n" not in v and b"\r" not in v and v.strip() == v
)


def _any_case(word: str) -> st.SearchStrategy[bytes]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: bytes(ord(c.upper() if u else c) for c, u in zip(word, upper, strict=True))
    )


@given(
    verb=st.sampled_from(["put", "set"]).flatmap(_any_case),
    key=_words,
    value=_values,
    gap=st.sampled_from([b" ", b"  ", b"\t", b" \t "]),
)
def test_value_verbs_keep_key_and_value(verb: bytes, key: bytes, value: bytes, gap: bytes) -> None:
    args = parse_request(verb + gap + key + gap + value).args
    assert args[:3] == [b"SET", key, value]
    assert args[3:] == ([b"NX"] if verb.lower() == b"put" else [])


@given(verb=st.sampled_from(["get", "del"]).flatmap(_any_case), key=_words)
def test_key_verbs_are_case_insensitive(verb: bytes, key: bytes) -> None:
    assert parse_request(verb + b" " + key).args == [verb.upper(), key]


# -- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "lines"),
    [
        (b"value with spaces", [b"value with spaces"]),
        (OK, [b"OK"]),
        (None, [b"(nil)"]),
        (True, [b"1"]),
        (False, [b"0"]),
        (42, [b"42"]),
        (2.5, [b"2.5"]),
        (ReplyError("ERR syntax error"), [b"error: syntax error"]),
        (ReplyError("WRONGTYPE no"), [b"error: WRONGTYPE no"]),
        (
            ReplyError("ERR unknown command 'foo', with args beginning with: 'a' "),
            [b"error: unknown command 'foo'"],
        ),
        (UnknownCommandError([b"foo", b"x"]), [b"error: unknown command 'foo'"]),
        ([b"a", [1, None]], [b"a", b"1", b"(nil)"]),
        ([], [b"(empty array)"]),
        (b"", [b'""']),
        ({}, [b"(empty array)"]),
        ({b"k": b"v", b"n": 1}, [b"k", b"v", b"n", b"1"]),
    ],
)
def test_render_text(reply: Reply, lines: list[bytes]) -> None:
    assert render_text(reply) == lines


@given(st.binary(min_size=1))
def test_bulk_strings_render_as_themselves(value: bytes) -> None:
    assert render_text(value) == [value]


@given(st.recursive(st.one_of(st.binary(max_size=3), st.none(), st.integers()), st.lists))
def test_every_reply_renders_to_some_bytes(reply: Reply) -> None:
    # An empty rendering would send nothing, leaving a client that reads once waiting.
    for crlf in (False, True):
        assert encode_text_reply(render_text(reply), crlf)


def test_error_line() -> None:
    assert error_line("ERR x y") == b"error: x y"
    assert error_line("request too long") == b"error: request too long"


def test_reply_terminators_follow_the_request() -> None:
    assert encode_text_reply([b"OK"], crlf=False) == b"OK"
    assert encode_text_reply([b"OK"], crlf=True) == b"OK\r\n"
    assert encode_text_reply([b"a", b"b"], crlf=False) == b"a\nb"
    assert encode_text_reply([b"a", b"b"], crlf=True) == b"a\r\nb\r\n"
