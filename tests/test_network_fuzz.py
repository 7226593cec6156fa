"""The network fuzzer (tests/network_fuzz.py), bounded: a few hundred fuzz connections against
each server variant. ``scripts/fuzz network`` runs it for as long as asked."""

from __future__ import annotations

import os

from conftest import ServerProcess
from network_fuzz import run


def test_network_fuzz(server: ServerProcess) -> None:
    seed = int(os.environ.get("KVSTORE_FUZZ_SEED", "20261122"))
    run((server.host, server.port), rounds=300, seed=seed)
    assert not any(
        word in line for line in server.log for word in ("Traceback", "Exception", "internal error")
    )
