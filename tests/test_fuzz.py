"""The codec fuzz targets (tests/fuzz_targets.py), a fixed number of hypothesis examples each:
random bytes, and valid frames mutated (bytes flipped, cut, spliced). ``scripts/fuzz`` runs the
same targets for hours."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_targets import TARGETS
from kvstore.protocol import encode_request, hiredis_available
from kvstore.protocol.replies import ReplyError, Status
from kvstore.protocol.resp_replies import encode_reply

SEEDS = [
    encode_request([b"SET", b"key", b"value"]),
    encode_request([b"GET", b"key"]) * 2,
    b"*0\r\n*-1\r\n" + encode_request([b"PING"]),
    b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
    b"*20000000\r\n",
    encode_reply([b"a", 1, None, Status("OK"), ReplyError("ERR x"), [2.5, True]], 3),
    encode_reply({b"k": [b"v", 7]}, 2),
    b"set k hello world\r\nget k\nBye\r\n",
    b"\x00" + b"A" * 200,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few bytes replaced, dropped or inserted, or two seeds spliced."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "drop", "insert", "splice"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.sampled_from(b"*$:+-\r\n0123456789-x\x00"))
        elif kind == "drop" and at < len(data):
            del data[at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(max_size=8))
        else:
            data[at:] = draw(st.sampled_from(SEEDS))
    return bytes(data)


FUZZ_INPUT = st.one_of(st.binary(max_size=300), mutated())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name: str) -> None:
    if name == "request-hiredis" and not hiredis_available():
        pytest.skip("hiredis is not installed (the 'fast' extra)")
    target: Callable[[bytes, int], None] = TARGETS[name]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=FUZZ_INPUT, cut=st.integers(1, 40))
    def run(data: bytes, cut: int) -> None:
        target(data, cut)

    run()
