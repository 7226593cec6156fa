"""Reaching a primary that asks for a password (masterauth: flag, file, environment) or
speaks TLS, reading from a replica with kvstore's library and ./client, and the lag on the
metrics page (real processes)."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

import kvstore
from conftest import CLIENT, VARIANTS, ServerProcess, free_port, retry_bind, start_server
from replication_support import client, info, link_up, wait_acked, wait_caught_up, wait_until
from test_tls import Certificates, certs, start_tls_server  # noqa: F401 - the fixture

FAST = VARIANTS["fast"]
PASSWORD = "s3cret-for-replicas"


def _authenticated_primary() -> ServerProcess:
    return start_server(*FAST, "--requirepass", PASSWORD)


def _check_follows(primary: ServerProcess, replica: ServerProcess) -> None:
    with kvstore.Client(primary.address, password=PASSWORD) as writer:
        writer.execute_command("SET", "k", "v")
    wait_until(lambda: link_up(replica), "the link")
    with kvstore.Client(replica.address) as reader:
        wait_until(lambda: reader.execute_command("GET", "k") == b"v", "the write")


@pytest.mark.parametrize("how", ["flag", "file", "environment"])
def test_masterauth_reaches_a_primary_with_a_password(how: str, tmp_path: Path) -> None:
    primary = _authenticated_primary()
    follow = ("--replicaof", f"127.0.0.1 {primary.port}")
    if how == "flag":
        replica = start_server(*FAST, *follow, "--masterauth", PASSWORD)
    elif how == "file":
        secret = tmp_path / "masterauth"
        secret.write_text(PASSWORD + "\n")
        replica = start_server(*FAST, *follow, "--masterauth-file", str(secret))
    else:
        replica = start_server(*FAST, *follow, env={"KVSTORE_MASTERAUTH": PASSWORD})
    try:
        _check_follows(primary, replica)
        assert PASSWORD not in replica.text
    finally:
        replica.stop()
        primary.stop()


def test_a_wrong_or_missing_masterauth_is_logged() -> None:
    primary = _authenticated_primary()
    follow = ("--replicaof", f"127.0.0.1 {primary.port}")
    missing = start_server(*FAST, *follow)
    wrong = start_server(*FAST, *follow, "--masterauth", "nope")
    try:
        missing.wait_for_log("the primary requires a password: set masterauth")
        wrong.wait_for_log("the primary refused the password (masterauth)")
        assert info(missing)["master_link_status"] == "down"
        client(wrong).config_set("masterauth", PASSWORD)  # taken at the next attempt
        wait_until(lambda: link_up(wrong), "the link with the right password")
    finally:
        wrong.stop()
        missing.stop()
        primary.stop()


def test_replication_over_tls(certs: Certificates) -> None:  # noqa: F811
    primary = start_tls_server(certs)
    replica = start_server(
        *FAST,
        "--replicaof", f"127.0.0.1 {primary.tls_port}",
        "--tls-replication", "yes",
        "--tls-ca-cert-file", str(certs.ca),
    )  # fmt: skip
    try:
        client(primary.process).set("over", "tls")
        wait_caught_up(primary.process, replica)
        assert client(replica).get("over") == b"tls"
        assert info(replica)["master_port"] == str(primary.tls_port)
    finally:
        replica.stop()
        primary.process.stop()


def test_the_library_and_the_cli_read_from_a_replica() -> None:
    primary = start_server(*FAST)
    replica = start_server(*FAST, "--replicaof", f"127.0.0.1 {primary.port}")
    try:
        client(primary).set("norway", "oslo")
        wait_caught_up(primary, replica)
        with kvstore.Client(replica.address) as reader:
            assert reader.execute_command("GET", "norway") == b"oslo"
            with pytest.raises(kvstore.ReadOnlyError):
                reader.execute_command("SET", "norway", "bergen")
        done = subprocess.run(
            [str(CLIENT), replica.address, "get", "norway"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout) == (0, "oslo\n")
        refused = subprocess.run(
            [str(CLIENT), replica.address, "set", "norway", "bergen"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert "READONLY" in refused.stderr
    finally:
        replica.stop()
        primary.stop()


def test_the_metrics_page_shows_each_replicas_lag() -> None:
    def start() -> tuple[ServerProcess, int]:
        port = free_port()
        return start_server(*FAST, "--metrics-port", str(port)), port

    primary, metrics_port = retry_bind(start)
    replica = start_server(*FAST, "--replicaof", f"127.0.0.1 {primary.port}")
    try:
        client(primary).set("k", "v")
        wait_caught_up(primary, replica)
        wait_acked(primary, 1)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
        name = f'replica="127.0.0.1:{replica.port}"'
        assert f"kvstore_replica_lag_bytes{{{name}}} 0" in page
        assert f"kvstore_replica_lag_seconds{{{name}}}" in page
        assert "kvstore_connected_replicas 1" in page
        assert f"kvstore_replication_offset_bytes {info(primary)['master_repl_offset']}" in page
        assert "kvstore_replication_is_replica 0" in page
    finally:
        replica.stop()
        primary.stop()
