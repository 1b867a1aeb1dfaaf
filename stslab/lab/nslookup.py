"""DNS lookups for the labs, with the real ``nslookup`` and its real output.

On the simulated backend ``nslookup`` runs on this machine against the lab's CoreDNS
(127.0.0.1, the port ``stslab up`` chose). On kind/k3d it runs inside the cluster, in a
``busybox:1.28`` pod (newer busybox builds answer wrongly), whose log is its output.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from dataclasses import dataclass, field

from kubernetes import client

from stslab.cluster.lifecycle import LabCluster, open_cluster
from stslab.core.errors import ToolMissingError, WaitTimeoutError
from stslab.core.labels import TOOL_LABEL
from stslab.core.procs import run

_IP = r"(\d+\.\d+\.\d+\.\d+)"


@dataclass
class Lookup:
    """What ``nslookup`` printed, and the addresses (or SRV targets) in its answer."""

    name: str
    output: str
    addresses: list[str] = field(default_factory=list)

    def show(self) -> None:
        """Print the command's output as it was."""
        print(self.output.rstrip())


def parse(output: str, rtype: str = "A") -> list[str]:
    """Answers from Debian's or busybox's ``nslookup`` output, sorted."""
    if rtype == "SRV":
        return sorted(
            m.group(1).rstrip(".") for m in re.finditer(r"service = \d+ \d+ \d+ (\S+)", output)
        )
    body = output.split("Name:", 1)[1] if "Name:" in output else ""
    found = re.findall(rf"Address(?: \d+)?:\s+{_IP}", body)
    return sorted(set(found))


def lookup(
    name: str, *, rtype: str = "A", cluster: LabCluster | None = None, namespace: str = "default"
) -> Lookup:
    """Resolve ``name`` the way a pod in the lab cluster would, with ``nslookup``.

    ``cluster`` is the lab's (``lab.cluster``); without it, the running lab cluster.
    """
    cluster = cluster or open_cluster()
    server = cluster.dns_server()
    if server is not None:
        exe = shutil.which("nslookup")
        if not exe:
            raise ToolMissingError(
                "nslookup is not installed", "install it: `sudo apt-get install bind9-dnsutils`"
            )
        host, port = server
        args = [exe, f"-port={port}"]
        if rtype != "A":
            args.append(f"-type={rtype}")
        proc = run([*args, name, host], timeout=15, what="nslookup", check=False)
        out = proc.stdout + proc.stderr
    else:
        out = _in_cluster(client.CoreV1Api(cluster.api), namespace, name, rtype)
    return Lookup(name, out, parse(out, rtype))


def _in_cluster(core: client.CoreV1Api, ns: str, name: str, rtype: str) -> str:
    pod = f"nslookup-{uuid.uuid4().hex[:6]}"
    cmd = ["nslookup", name] if rtype == "A" else ["nslookup", f"-type={rtype}", name]
    core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": pod, "labels": {TOOL_LABEL: "nslookup"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "nslookup", "image": "busybox:1.28", "command": cmd}],
            },
        },
    )
    try:
        deadline = time.monotonic() + 120
        while core.read_namespaced_pod(pod, ns).status.phase not in ("Succeeded", "Failed"):
            if time.monotonic() > deadline:
                raise WaitTimeoutError(
                    f"the nslookup pod did not finish in 120s ({pod})",
                    "is busybox:1.28 loaded? see `stslab images`",
                )
            time.sleep(0.5)
        return str(core.read_namespaced_pod_log(pod, ns))
    finally:
        core.delete_namespaced_pod(pod, ns, grace_period_seconds=0)
