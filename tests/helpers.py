"""Small helpers shared by the cluster tests (the manifests come from stslab.lab.manifests)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime

from kubernetes import client

from stslab.core.kube import wait_until
from stslab.lab.nslookup import parse


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
    return parse(out)
