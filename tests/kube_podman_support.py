"""Runs the pods of deploy/kubernetes/cluster/ under podman, as a Kubernetes node would, where
there is no Kubernetes (no tests of its own: tests/test_kubernetes_podman.py uses it).

Each StatefulSet pod becomes a container named after the pod on one podman network, reachable
there by the stable DNS name Kubernetes gives it (``pod.service``, a network alias), with the
manifest's image, command, arguments and environment (``$(VAR)`` references, the pod's name
from ``fieldRef``, the Secret's values), its user, read-only root and volumes (a volume per
claim, ConfigMaps as files). Pods start in Kubernetes's order: etcd's all at once
(``Parallel``), the Job, then each shard's pods one by one (``OrderedReady``: the init
containers to completion, then the server until its readiness probe passes). Services, probes
other than ``exec`` readiness, scheduling and restarts are Kubernetes's business, not
emulated."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import wait_for

Manifests = dict[tuple[str, str], dict[str, Any]]

#: How long one container may run before it counts as stuck (init containers, the Job).
RUN_TIMEOUT = 240
#: How long a pod may take to pass its readiness probe.
READY_TIMEOUT = 180


class PodError(Exception):
    """A pod did not start or complete; the message names it and ends with its log."""


@dataclass
class KubePodman:
    manifests: Manifests
    images: dict[str, str]  # the manifests' image names -> local images
    prefix: str
    workdir: Path
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    def podman(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        done = subprocess.run(
            ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise PodError(f"podman {' '.join(args[:3])}...: {done.stderr.strip()}")
        return done.stdout

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: doc for (k, name), doc in self.manifests.items() if k == kind}

    # -- a container from a pod spec ------------------------------------------------------

    def _environment(self, container: dict[str, Any], pod: str) -> dict[str, str]:
        env: dict[str, str] = {}
        secrets = self.of_kind("Secret")
        for item in container.get("env", []):
            if "value" in item:
                # $(NAME) names a variable defined before it, as Kubernetes expands it.
                value = re.sub(
                    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                    lambda m: env.get(m.group(1), m.group(0)),
                    item["value"],
                )
            elif "fieldRef" in item["valueFrom"]:
                assert item["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
                value = pod
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                value = secrets[ref["name"]]["stringData"][ref["key"]]
            env[item["name"]] = value
        return env

    def _config_map_dir(self, name: str) -> Path:
        directory = self.workdir / f"configmap-{name}"
        if not directory.exists():
            directory.mkdir(parents=True)
            for key, text in self.of_kind("ConfigMap")[name]["data"].items():
                (directory / key).write_text(text)
                (directory / key).chmod(0o644)
            directory.chmod(0o755)
        return directory

    def _run_args(
        self, spec: dict[str, Any], container: dict[str, Any], pod: str, aliases: list[str]
    ) -> list[str]:
        args = ["--network", self.network, "--hostname", pod]
        for alias in aliases:
            args += ["--network-alias", alias]
        security = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
        if "runAsUser" in security:
            args += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', 0)}"]
        if security.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        for name, value in self._environment(container, pod).items():
            args += ["-e", f"{name}={value}"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            source = volumes.get(mount["name"])
            if source is not None and "configMap" in source:
                directory = self._config_map_dir(source["configMap"]["name"])
                args += ["-v", f"{directory}:{mount['mountPath']}:ro"]
            else:  # a claim from the StatefulSet's templates: a volume of the pod's own
                volume = f"{self.prefix}-{mount['name']}-{pod}"
                if volume not in self.volumes:
                    self.podman("volume", "create", volume)
                    self.volumes.append(volume)
                args += ["-v", f"{volume}:{mount['mountPath']}"]
        if "command" in container:
            args += ["--entrypoint", json.dumps(container["command"])]
        args.append(self.images[container["image"]])
        args += container.get("args", [])
        return args

    def run_to_completion(
        self, spec: dict[str, Any], container: dict[str, Any], pod: str, name: str
    ) -> str:
        """An init container or a Job's container: its output once it exited 0."""
        self.containers.append(name)
        args = self._run_args(spec, container, pod, [])
        self.podman("run", "--name", name, *args, timeout=RUN_TIMEOUT, check=False)
        status = self.podman("inspect", "-f", "{{.State.ExitCode}}", name).strip()
        log = self.logs(name)
        if status != "0":
            raise PodError(f"{name} exited with {status}:\n{log}")
        return log

    def start(self, spec: dict[str, Any], container: dict[str, Any], pod: str, alias: str) -> None:
        self.containers.append(pod)
        self.podman("run", "-d", "--name", pod, *self._run_args(spec, container, pod, [alias]))

    def wait_ready(self, pod: str, container: dict[str, Any]) -> None:
        """Until the pod's readiness probe passes, as the kubelet runs it."""
        probe = container["readinessProbe"]["exec"]["command"]

        def ready() -> bool:
            done = subprocess.run(
                ["podman", "exec", pod, *probe], capture_output=True, timeout=60, check=False
            )
            return done.returncode == 0

        try:
            wait_for(ready, READY_TIMEOUT, f"{pod}'s readiness probe")
        except AssertionError as exc:
            raise PodError(f"{exc}:\n{self.logs(pod)}") from None

    def logs(self, pod: str) -> str:
        """What the pod's container wrote (podman gives its stderr on stderr)."""
        done = subprocess.run(
            ["podman", "logs", pod],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout

    # -- the cluster ------------------------------------------------------------------------

    def pods(self, stateful: dict[str, Any]) -> Iterator[tuple[str, str]]:
        """Each pod's name and stable DNS name."""
        name, service = stateful["metadata"]["name"], stateful["spec"]["serviceName"]
        for ordinal in range(stateful["spec"]["replicas"]):
            yield f"{name}-{ordinal}", f"{name}-{ordinal}.{service}"

    def up(self) -> None:
        self.podman("network", "create", self.network)
        sets = self.of_kind("StatefulSet")
        etcd = sets.pop("etcd")
        assert etcd["spec"]["podManagementPolicy"] == "Parallel"
        spec = etcd["spec"]["template"]["spec"]
        for pod, alias in self.pods(etcd):
            self.start(spec, spec["containers"][0], pod, alias)
        for name, job in self.of_kind("Job").items():
            spec = job["spec"]["template"]["spec"]
            self.run_to_completion(spec, spec["containers"][0], name, f"{name}-job")
        for stateful in sets.values():
            spec = stateful["spec"]["template"]["spec"]
            for pod, alias in self.pods(stateful):
                for init in spec.get("initContainers", []):
                    self.run_to_completion(spec, init, pod, f"{pod}-{init['name']}")
                self.start(spec, spec["containers"][0], pod, alias)
                self.wait_ready(pod, spec["containers"][0])

    def down(self) -> None:
        for name in reversed(self.containers):
            self.podman("rm", "-f", "-t", "10", name, check=False, timeout=120)
        for volume in self.volumes:
            self.podman("volume", "rm", "-f", volume, check=False)
        self.podman("network", "rm", "-f", self.network, check=False)
