"""The differential test's comparisons (``differential_support.py``), on hand-made replies."""

from __future__ import annotations

import io

from differential_support import (
    Reply,
    RespConnection,
    clock,
    exact,
    info_shape,
    one_of,
    scan_page,
    unordered,
    within,
)


def _reply(raw: bytes) -> Reply:
    connection = RespConnection.__new__(RespConnection)
    connection.reader = io.BufferedReader(io.BytesIO(raw))
    return connection.read_reply()


def test_exact_compares_bytes() -> None:
    assert exact(_reply(b"-ERR x\r\n"), _reply(b"-ERR x\r\n")) is None
    assert exact(_reply(b":1\r\n"), _reply(b"$1\r\n1\r\n")) is not None


def test_within_tolerates_time_passing_only_for_positive_integers() -> None:
    compare = within(1)
    assert compare(_reply(b":100\r\n"), _reply(b":99\r\n")) is None
    assert compare(_reply(b":100\r\n"), _reply(b":98\r\n")) is not None
    assert compare(_reply(b":-2\r\n"), _reply(b":-1\r\n")) is not None  # missing vs no TTL
    assert compare(_reply(b":0\r\n"), _reply(b":-1\r\n")) is not None


def test_unordered_compares_elements_as_a_multiset() -> None:
    ab = _reply(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
    ba = _reply(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n")
    aa = _reply(b"*2\r\n$1\r\na\r\n$1\r\na\r\n")
    assert unordered(ab, ba) is None
    assert unordered(ab, aa) is not None
    assert unordered(_reply(b"*0\r\n"), _reply(b"*0\r\n")) is None


def test_scan_page_compares_elements_only_when_both_scans_are_over() -> None:
    done = _reply(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n")
    done_other = _reply(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nb\r\n")
    more = _reply(b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\nb\r\n")
    twice = _reply(b"*2\r\n$1\r\n3\r\n*2\r\n$1\r\na\r\n$1\r\na\r\n")
    assert scan_page(done, more) is None
    assert scan_page(done, done_other) is not None
    assert scan_page(done, twice) is not None
    assert scan_page(done, _reply(b"-ERR invalid cursor\r\n")) is not None


def test_one_of_checks_nil_and_membership() -> None:
    compare = one_of([b"a", b"b"])
    assert compare(_reply(b"$1\r\na\r\n"), _reply(b"$1\r\nb\r\n")) is None
    assert compare(_reply(b"$1\r\na\r\n"), _reply(b"$1\r\nc\r\n")) is not None
    assert compare(_reply(b"$1\r\na\r\n"), _reply(b"$-1\r\n")) is not None
    assert compare(_reply(b"_\r\n"), _reply(b"$1\r\na\r\n")) is not None


def test_clock_checks_shape_and_seconds() -> None:
    def time(seconds: bytes, micros: bytes) -> Reply:
        return _reply(
            b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(seconds), seconds, len(micros), micros)
        )

    assert clock(time(b"1000", b"5"), time(b"1001", b"999999")) is None
    assert clock(time(b"1000", b"5"), time(b"1010", b"5")) is not None
    assert clock(time(b"1000", b"5"), time(b"1000", b"1000000")) is not None
    assert clock(time(b"1000", b"5"), time(b"1000", b"-5")) is not None


def test_info_shape_compares_sections_and_key_counts() -> None:
    def info(text: bytes, verbatim: bool = False) -> Reply:
        body = b"txt:" + text if verbatim else text
        return _reply(b"%s%d\r\n%s\r\n" % (b"=" if verbatim else b"$", len(body), body))

    redis = info(
        b"# Server\r\nx:1\r\n\r\n# Modules\r\n\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=9\r\n"
    )
    assert (
        info_shape(
            redis, info(b"# Server\r\ny:2\r\n\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n")
        )
        is None
    )
    assert info_shape(redis, info(b"# Keyspace\r\ndb0:keys=1,expires=1,avg_ttl=0\r\n")) is not None
    assert info_shape(redis, info(b"# Keyspace\r\n\r\n# Server\r\n")) is not None
    assert info_shape(redis, info(b"")) is not None
    assert info_shape(info(b"", True), info(b"", True)) is None
    assert info_shape(info(b"", True), info(b"")) is not None
