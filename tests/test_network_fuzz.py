"""The network fuzzer (tests/network_fuzz.py), bounded: a few hundred fuzz connections against
each server variant. ``scripts/fuzz network`` runs it for as long as asked."""

from __future__ import annotations

import os

import pytest

from conftest import VARIANTS, start_server
from network_fuzz import run


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_network_fuzz(variant: str) -> None:
    seed = int(os.environ.get("KVSTORE_FUZZ_SEED", "20261122"))
    server = start_server(*VARIANTS[variant])
    try:
        run((server.host, server.port), rounds=300, seed=seed)
    finally:
        server.stop()  # then the log is whole: a late traceback is in it
    assert not any(
        word in line for line in server.log for word in ("Traceback", "Exception", "internal error")
    )
