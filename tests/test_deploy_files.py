"""The deployment files parse and say what docs/deploy.md promises (no cluster or engine needed)."""

from __future__ import annotations

import configparser
import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from conftest import ROOT
from kvstore.config import ServerConfig
from kvstore.config.security import PASSWORD_ENV

KUBERNETES = ROOT / "deploy" / "kubernetes"
KNOWN_VARIABLES = {ServerConfig.env_name(f.name) for f in dataclasses.fields(ServerConfig)} | {
    PASSWORD_ENV
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kubernetes() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in documents(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            found[doc["kind"]] = doc
    return found


def test_the_statefulset_has_a_volume_claim_probes_and_the_secret() -> None:
    kinds = kubernetes()
    assert set(kinds) == {"StatefulSet", "Service", "Secret"}
    spec = kinds["StatefulSet"]["spec"]
    assert spec["serviceName"] == kinds["Service"]["metadata"]["name"]
    container = spec["template"]["spec"]["containers"][0]
    claim = spec["volumeClaimTemplates"][0]["metadata"]["name"]
    assert {"name": claim, "mountPath": "/data"} in container["volumeMounts"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container
    assert "ping" in " ".join(container["readinessProbe"]["exec"]["command"])
    password = next(e for e in container["env"] if e["name"] == PASSWORD_ENV)
    secret = password["valueFrom"]["secretKeyRef"]
    assert secret["name"] == kinds["Secret"]["metadata"]["name"]
    assert secret["key"] in kinds["Secret"]["stringData"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_compose_uses_a_named_volume_and_the_env_file() -> None:
    (compose,) = documents(ROOT / "compose.yaml")
    service = compose["services"]["kvstore"]
    volume, target = service["volumes"][0].split(":")
    assert target == "/data"
    assert volume in compose["volumes"]
    assert service["env_file"] == "kvstore.env"
    example = (ROOT / "kvstore.env.example").read_text()
    names = re.findall(r"^#? ?(KVSTORE_[A-Z_]+)=", example, re.MULTILINE)
    assert PASSWORD_ENV in names
    assert set(names) <= KNOWN_VARIABLES


def test_the_systemd_unit_has_the_expected_keys() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment, method-assign]
    unit.read_string((ROOT / "deploy" / "kvstore.service").read_text())
    service = unit["Service"]
    assert service["ExecStart"].startswith("/opt/kvstore/bin/kvstore-server --dir ")
    assert service["KillSignal"] == "SIGTERM"
    assert service["DynamicUser"] == "yes"
    assert service["StateDirectory"] == "kvstore"
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"):
        assert key in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in unit["Unit"]["After"]


def test_the_dockerfile_has_what_the_docs_promise() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim$", text, re.MULTILINE)
    assert re.search(r"^USER kvstore$", text, re.MULTILINE)
    assert re.search(r"^VOLUME /data$", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 5000$", text, re.MULTILINE)
    assert re.search(r"KVSTORE_BIND=0\.0\.0\.0", text)
    assert re.search(r"KVSTORE_DIR=/data", text)
    assert re.search(r"^HEALTHCHECK .*\n.*\"kvstore\.cli\.health\"", text, re.MULTILINE)
    assert "python -m venv" not in text  # Debian's python3 packages have no "python"
    assert '".[fast]"' in text
    ignored = (ROOT / ".dockerignore").read_text()
    assert "!src" in ignored.splitlines()
    variables = set(re.findall(r"(KVSTORE_[A-Z_]+)", text))
    assert variables <= KNOWN_VARIABLES
