"""Manifests and small helpers shared by the cluster tests."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from typing import Any

from kubernetes import client

from stslab.kube import wait_until


def headless_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": name},
            "ports": [{"name": "web", "port": 80}],
        },
    }


def statefulset(
    name: str, replicas: int = 3, policy: str = "OrderedReady", claims: bool = False
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceName": name,
        "replicas": replicas,
        "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "registry.k8s.io/nginx-slim:0.24",
                        "ports": [{"name": "web", "containerPort": 80}],
                    }
                ]
            },
        },
    }
    if claims:
        spec["template"]["spec"]["containers"][0]["volumeMounts"] = [
            {"name": "www", "mountPath": "/usr/share/nginx/html"}
        ]
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "www"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def wait_ready_pods(
    core: client.CoreV1Api, ns: str, selector: str, count: int, timeout: float = 60
) -> list[client.V1Pod]:
    def probe() -> list[client.V1Pod] | None:
        pods = core.list_namespaced_pod(ns, label_selector=selector).items
        ready = [p for p in pods if condition_time(p, "Ready") is not None]
        return ready if len(ready) == count else None

    return wait_until(probe, timeout=timeout, what=f"{count} Ready pods ({selector})")


def condition_time(pod: client.V1Pod, kind: str) -> datetime | None:
    """When the pod's condition ``kind`` last became True, or None if it is not True."""
    for c in pod.status.conditions or []:
        if c.type == kind and c.status == "True":
            return c.last_transition_time
    return None


def nslookup(name: str, port: int) -> list[str]:
    """Addresses the lab's CoreDNS returns for ``name``, using the real nslookup binary."""
    exe = shutil.which("nslookup")
    assert exe, "nslookup is missing: install bind9-dnsutils (.ci/run does)"
    out = subprocess.run(
        [exe, f"-port={port}", name, "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    # Answers follow the "Name:" line; the first "Address:" is the server itself.
    answers = out.split("Name:", 1)[1] if "Name:" in out else ""
    return sorted(
        line.split()[-1] for line in answers.splitlines() if line.strip().startswith("Address:")
    )
