"""KEYS/SCAN glob matching: against a transliteration of Redis's matcher, against a real
redis-server on random patterns, and the quirks worth naming."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ServerProcess
from glob_reference import stringmatch_reference
from kvstore.commands.glob import compile_glob, glob_matches
from redis_compare import RawConnection, start_kvstore_for_comparison, start_reference_redis
from test_client_support import RedisServer

#: Pattern pieces: every special byte, bytes either side of the signed-char boundary, NUL.
PIECES = [b"*", b"?", b"[", b"]", b"^", b"-", b"\\", b"a", b"b", b"c", b"\x00", b"\x7f",
          b"\x80", b"\xff", b"[a-c]", b"[^a]", b"[\x80-a]", b"\\*"]  # fmt: skip
KEY_BYTES = b"abc-]^\\*?[\x00\x7f\x80\xff"

patterns = st.lists(st.sampled_from(PIECES), max_size=8).map(b"".join)
subjects = st.binary(max_size=6).map(lambda raw: bytes(KEY_BYTES[b % 14] for b in raw))


@settings(max_examples=1000, deadline=None)
@given(pattern=patterns, key=subjects)
def test_matches_like_redis_stringmatchlen(pattern: bytes, key: bytes) -> None:
    assert glob_matches(pattern, key) == stringmatch_reference(pattern, key)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        (b"*", b"", False),  # the empty key matches only the empty pattern...
        (b"", b"", True),
        (b"", b"a", False),
        (b"[]", b"]", False),  # an empty set matches nothing
        (b"[]]", b"]", False),
        (b"[^]", b"x", True),  # and its negation anything
        (b"[^", b"x", True),
        (b"[", b"x", False),
        (b"[abc", b"c", True),  # an unclosed set runs to the end
        (b"[\\]]", b"]", True),
        (b"[z-a]", b"m", True),  # a reversed range is swapped
        (b"[a-\xff]", b"\x80", False),  # signed char: \xff is -1, so this is [-1..97]
        (b"[a-\xff]", b"\xff", True),
        (b"[a-\xff]", b"\x00", True),
        (b"[\x80-\x7f]", b"\x00", True),
        (b"a\\", b"a\\", True),  # a trailing backslash is itself
        (b"\\a", b"a", True),
        (b"a*", b"a", True),
        (b"**a**", b"xa", True),
    ],
)
def test_quirks(pattern: bytes, key: bytes, expected: bool) -> None:
    assert glob_matches(pattern, key) is expected
    assert stringmatch_reference(pattern, key) is expected


def test_many_stars_on_a_long_key_stay_polynomial() -> None:
    # Backtracking over every star would take ~2000**20 steps here.
    pattern = b"*a" * 20 + b"*b"
    assert not compile_glob(pattern).matches(b"a" * 2_000)
    assert compile_glob(pattern).matches(b"a" * 2_000 + b"b")


# -- against a real redis-server ----------------------------------------------------------------

KEYS = sorted({bytes(KEY_BYTES[(i * 7 + j * 3) % 14] for j in range(i % 5)) for i in range(60)}
              | {b"", b"a", b"ab", b"abc", b"a*c", b"a[b", b"\x80\xff", b"-^]"})  # fmt: skip


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RawConnection, RawConnection]]:
    reference: RedisServer = start_reference_redis(tmp_path_factory.mktemp("redis-glob"))
    kvstore: ServerProcess = start_kvstore_for_comparison()
    connections = (
        RawConnection("127.0.0.1", reference.port),
        RawConnection("127.0.0.1", kvstore.port),
    )
    for conn in connections:
        conn.call("FLUSHALL")
        for key in KEYS:
            conn.call("SET", key, "v")
    yield connections
    for conn in connections:
        conn.close()
    kvstore.stop()
    reference.stop()


@settings(max_examples=300, deadline=None)
@given(pattern=patterns)
def test_keys_agrees_with_redis_server(
    loaded: tuple[RawConnection, RawConnection], pattern: bytes
) -> None:
    redis, kvstore = loaded
    expected = sorted(redis.call("KEYS", pattern))
    assert sorted(kvstore.call("KEYS", pattern)) == expected
    if pattern != b"*":  # KEYS skips matching for "*" alone
        assert [key for key in KEYS if glob_matches(pattern, key)] == expected
