"""The deployment files parse and say what docs/deploy.md promises (no cluster or engine needed)."""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from kvstore.cluster.topology import Topology, from_json
from kvstore.config import ServerConfig
from kvstore.config.security import PASSWORD_ENV

KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_CLUSTER = KUBERNETES / "cluster"
COMPOSE_CLUSTER = ROOT / "deploy" / "compose" / "cluster.yaml"
KNOWN_VARIABLES = {ServerConfig.env_name(f.name) for f in dataclasses.fields(ServerConfig)} | {
    PASSWORD_ENV
}
KNOWN_FLAGS = {ServerConfig.flag_name(f.name) for f in dataclasses.fields(ServerConfig)}
ADMIN_FLAGS = {"--etcd", "--name"}  # kvstore-cluster's


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
    assert '".[fast,cluster]"' in text  # etcd3gw, for cluster mode on etcd
    ignored = (ROOT / ".dockerignore").read_text()
    assert "!src" in ignored.splitlines()
    variables = set(re.findall(r"(KVSTORE_[A-Z_]+)", text))
    assert variables <= KNOWN_VARIABLES


# -- a cluster on etcd: deploy/kubernetes/cluster/ and deploy/compose/cluster.yaml ----------


def cluster_manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(KUBERNETES_CLUSTER.glob("*.yaml")):
        for doc in documents(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, key
            found[key] = doc
    return found


def of_kind(manifests: dict[tuple[str, str], dict[str, Any]], kind: str) -> dict[str, Any]:
    return {name: doc for (k, name), doc in manifests.items() if k == kind}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def env_values(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def check_command_flags(text: str) -> None:
    """Every flag given to kvstore-server or kvstore-cluster in a command is one they have."""
    for line in text.splitlines():
        flags = set(re.findall(r"(?<!\S)(--[a-z][a-z-]*)", line))
        if "kvstore-server" in line:
            assert flags <= KNOWN_FLAGS, line
        if "kvstore-cluster" in line:
            assert flags <= ADMIN_FLAGS, line


def check_kvstore_variables(environment: dict[str, Any]) -> None:
    named = {name for name in environment if name.startswith("KVSTORE_")}
    # The image's own names (KVSTORE_IMAGE...) are compose's, never the container's.
    assert named <= KNOWN_VARIABLES, named - KNOWN_VARIABLES


def etcd_members(manifests: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """etcd's pods' client addresses, from its StatefulSet and headless service."""
    etcd = manifests[("StatefulSet", "etcd")]
    service = manifests[("Service", etcd["spec"]["serviceName"])]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True  # peers meet before readiness
    client = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "client")
    name, service_name = etcd["metadata"]["name"], service["metadata"]["name"]
    return [f"{name}-{i}.{service_name}:{client}" for i in range(etcd["spec"]["replicas"])]


def test_the_etcd_statefulset_names_its_members_by_their_stable_names() -> None:
    manifests = cluster_manifests()
    etcd = manifests[("StatefulSet", "etcd")]
    assert etcd["spec"]["replicas"] == 3
    assert etcd["spec"]["podManagementPolicy"] == "Parallel"
    (container,) = pod_spec(etcd)["containers"]
    env = env_values(container)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    peers = [member.rsplit(":", 1)[0] for member in etcd_members(manifests)]
    assert env["ETCD_INITIAL_CLUSTER"] == ",".join(
        f"{peer.split('.')[0]}=http://{peer}:{ports['peer']}" for peer in peers
    )
    assert env["ETCD_ADVERTISE_CLIENT_URLS"] == f"http://$(ETCD_NAME).etcd:{ports['client']}"
    assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == f"http://$(ETCD_NAME).etcd:{ports['peer']}"
    name = next(e for e in container["env"] if e["name"] == "ETCD_NAME")
    assert name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    claim = etcd["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    assert claim in {m["name"] for m in container["volumeMounts"]}
    assert "readinessProbe" in container
    assert "livenessProbe" in container


def topology_of(manifests: dict[tuple[str, str], dict[str, Any]]) -> Topology:
    return from_json(manifests[("ConfigMap", "kvstore-topology")]["data"]["topology.json"])


def test_the_topology_names_the_shard_pods_stable_dns_names() -> None:
    manifests = cluster_manifests()
    topology = topology_of(manifests)
    services = of_kind(manifests, "Service")
    shard_sets = {
        doc["metadata"]["labels"]["kvstore.io/shard"]: doc
        for doc in of_kind(manifests, "StatefulSet").values()
        if "kvstore.io/shard" in doc["metadata"]["labels"]
    }
    assert set(shard_sets) == {shard.id for shard in topology.shards}
    assert sum(hi - lo + 1 for shard in topology.shards for lo, hi in shard.slots) == 16384
    for shard in topology.shards:
        stateful = shard_sets[shard.id]
        name, service_name = stateful["metadata"]["name"], stateful["spec"]["serviceName"]
        service = services[service_name]
        assert service["spec"]["clusterIP"] == "None"
        labels = pod_spec_labels(stateful)
        assert service["spec"]["selector"].items() <= labels.items()
        assert stateful["spec"]["selector"]["matchLabels"].items() <= labels.items()
        container = pod_spec(stateful)["containers"][0]
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == "resp")
        assert {p["port"] for p in service["spec"]["ports"]} == {port}
        pods = [f"{name}-{i}.{service_name}" for i in range(stateful["spec"]["replicas"])]
        # Pod 0 is the primary, the others its replicas: hosts, never IPs, on the pods' port.
        assert [(m.host, m.port) for m in shard.members] == [(pod, port) for pod in pods]
        assert [m.role for m in shard.members] == ["primary"] + ["replica"] * (len(pods) - 1)
        env = env_values(container)
        assert env["KVSTORE_CLUSTER_ANNOUNCE_HOSTNAME"] == f"$(POD_NAME).{service_name}"
        assert env["KVSTORE_CLUSTER_ENABLED"] == "yes"
        script = " ".join(container["command"])
        assert f'KVSTORE_REPLICAOF="{pods[0]} {port}"' in script
        pod_name = next(e for e in container["env"] if e["name"] == "POD_NAME")
        assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def pod_spec_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def test_every_cluster_pod_uses_real_options_the_etcd_service_and_the_secret() -> None:
    manifests = cluster_manifests()
    members = ",".join(etcd_members(manifests))
    secrets = of_kind(manifests, "Secret")
    workloads = [*of_kind(manifests, "StatefulSet").values(), *of_kind(manifests, "Job").values()]
    kvstore_containers = 0
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in containers(spec):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            if not container["image"].startswith("kvstore:"):
                continue
            kvstore_containers += 1
            check_kvstore_variables({e["name"]: e for e in container.get("env", [])})
            check_command_flags("\n".join(container.get("command", [])))
            env = env_values(container)
            for name in ("KVSTORE_CLUSTER_ETCD_ENDPOINTS", "ETCD"):
                if name in env:
                    assert env[name] == members, (workload["metadata"]["name"], name)
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]
    assert kvstore_containers == 5  # the Job, and each shard's server and its wait


def test_the_shards_keep_data_probe_and_share_one_password() -> None:
    manifests = cluster_manifests()
    for name in ("kvstore-a", "kvstore-b"):
        stateful = manifests[("StatefulSet", name)]
        container = pod_spec(stateful)["containers"][0]
        claim = stateful["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
        assert {"name": claim, "mountPath": "/data"} in container["volumeMounts"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
            for e in container["env"]
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        }
        assert refs == {PASSWORD_ENV: "kvstore-password", "KVSTORE_MASTERAUTH": "kvstore-password"}
        (wait,) = pod_spec(stateful)["initContainers"]
        assert "kvstore-cluster" in " ".join(wait["command"])


def test_the_job_stores_the_configmaps_topology() -> None:
    manifests = cluster_manifests()
    job = manifests[("Job", "kvstore-cluster-create")]
    spec = pod_spec(job)
    (container,) = spec["containers"]
    (mount,) = container["volumeMounts"]
    (volume,) = (v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "kvstore-topology"
    script = container["command"][-1]
    assert f"create {mount['mountPath']}/topology.json" in script


def compose_cluster() -> dict[str, Any]:
    (compose,) = documents(COMPOSE_CLUSTER)
    services: dict[str, Any] = compose["services"]
    return services


def test_the_compose_cluster_agrees_with_its_topology() -> None:
    services = compose_cluster()
    topology = from_json((COMPOSE_CLUSTER.parent / "topology.json").read_text())
    etcd = sorted(name for name in services if name.startswith("etcd-"))
    assert len(etcd) == 3
    initial = ",".join(f"{name}=http://{name}:2380" for name in etcd)
    for name in etcd:
        env = services[name]["environment"]
        assert env["ETCD_NAME"] == name
        assert env["ETCD_INITIAL_CLUSTER"] == initial
        assert env["ETCD_ADVERTISE_CLIENT_URLS"] == f"http://{name}:2379"
    endpoints = ",".join(f"{name}:2379" for name in etcd)
    assert services["cluster-create"]["environment"]["ETCD"] == endpoints
    for shard in topology.shards:
        primary = shard.members[0]
        assert primary.role == "primary"
        for member in shard.members:
            service = services[member.host]  # every host is a service, on the port it listens on
            assert member.port == 5000
            env = service["environment"]
            check_kvstore_variables(env)
            check_command_flags("\n".join(service["entrypoint"]))
            assert env["KVSTORE_CLUSTER_ANNOUNCE_HOSTNAME"] == member.host
            assert env["KVSTORE_CLUSTER_ETCD_ENDPOINTS"] == endpoints
            assert env["KVSTORE_CLUSTER_ENABLED"] == "yes"
            assert env["KVSTORE_MASTERAUTH"] == env[PASSWORD_ENV]
            if member is primary:
                assert "KVSTORE_REPLICAOF" not in env
            else:
                assert env["KVSTORE_REPLICAOF"] == f"{primary.host} {primary.port}"
            (published,) = service["ports"]
            assert published.startswith("127.0.0.1:")
            assert published.endswith(":5000")
    volume = services["cluster-create"]["volumes"][0]
    assert volume.split(":")[:2] == ["./topology.json", "/etc/kvstore/topology.json"]
    assert "create /etc/kvstore/topology.json" in services["cluster-create"]["entrypoint"][-1]


def test_the_etcd_image_is_debians_etcd_on_the_same_base() -> None:
    text = (ROOT / "deploy" / "etcd" / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim$", text, re.MULTILINE)
    assert "install -y -qq --no-install-recommends etcd-server" in text
    assert re.search(r"^USER 10002$", text, re.MULTILINE)
    etcd = cluster_manifests()[("StatefulSet", "etcd")]
    assert pod_spec(etcd)["securityContext"]["runAsUser"] == 10002


def test_disruption_budgets_and_spreading_select_the_pods_they_mean() -> None:
    manifests = cluster_manifests()
    budgets = of_kind(manifests, "PodDisruptionBudget")
    assert budgets["etcd"]["spec"]["minAvailable"] == 2  # etcd's quorum of 3
    for name, stateful in of_kind(manifests, "StatefulSet").items():
        labels = pod_spec_labels(stateful)
        assert (
            budgets[name]["spec"]["selector"]["matchLabels"]
            == (stateful["spec"]["selector"]["matchLabels"])
        )
        (term,) = pod_spec(stateful)["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        selector = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        assert selector == stateful["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()


def test_docker_compose_accepts_the_cluster_file_and_wants_a_password() -> None:
    """Checked against the compose file format by a compose of its own (Debian's docker-compose
    1.29 reads and checks a file without a daemon)."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (Debian's docker-compose checks the file)")

    def config(**env: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("KVSTORE_")}
        return subprocess.run(
            [compose, "-f", str(COMPOSE_CLUSTER), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**environ, **env},
        )

    accepted = config(KVSTORE_PASSWORD="secret")
    assert accepted.returncode == 0, accepted.stderr
    refused = config()
    assert refused.returncode != 0
    assert "set KVSTORE_PASSWORD" in refused.stderr
