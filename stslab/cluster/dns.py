"""CoreDNS for the simulated backend: a local process on loopback answering ``cluster.local``.

CoreDNS's ``kubernetes`` plugin reads Services and EndpointSlices from the lab's apiserver (its
``kubeconfig`` option), so ``web-0.nginx.<ns>.svc.cluster.local`` resolves exactly as it would
inside a cluster. Query it with ``nslookup -port=<port> <name> 127.0.0.1``.

The real node (:mod:`~.realnode`) runs a second one with the same Corefile on its bridge
address, port 53, where its pods reach it: ``CoreDNS(..., host=NODE_IP, port=53)``. Either
way the readiness endpoint stays on loopback.
"""

from __future__ import annotations

import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.kube import wait_until
from stslab.core.labels import DNS_INFO, MANAGED_LABEL
from stslab.core.procs import LOOPBACK, pid_from_file, terminate

# Loopback traffic never goes through a proxy, whatever the environment says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

COREFILE = """\
# Written by stslab: CoreDNS for the simulated lab cluster, on {host} only.
.:{port} {{
    bind {host}
    ready {loopback}:{ready_port}
    errors
    log . "{{remote}} {{type}} {{name}} {{rcode}}"
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}{context}
        pods insecure
        ttl 5
    }}
}}
"""


@dataclass
class CoreDNS:
    """One CoreDNS process serving the lab cluster's DNS on ``host:port``."""

    binary: Path
    workdir: Path
    port: int
    ready_port: int
    host: str = LOOPBACK

    @property
    def pid_file(self) -> Path:
        """Where the running process's pid is kept."""
        return self.workdir / "coredns.pid"

    def corefile(self, kubeconfig: Path, context: str) -> str:
        """The Corefile text (``context`` empty: the kubeconfig's current context)."""
        return COREFILE.format(
            host=self.host,
            loopback=LOOPBACK,
            port=self.port,
            ready_port=self.ready_port,
            kubeconfig=kubeconfig,
            context=f" {context}" if context else "",
        )

    def start(self, kubeconfig: Path, context: str = "", timeout: float = 30) -> None:
        """Start CoreDNS detached from this process and wait until its plugins are ready."""
        corefile = self.workdir / "Corefile"
        corefile.write_text(self.corefile(kubeconfig, context))
        with open(self.workdir / "coredns.log", "ab") as log:
            proc = subprocess.Popen(
                [str(self.binary), "-conf", str(corefile)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        wait_until(
            self.ready,
            timeout=timeout,
            what="CoreDNS becoming ready",
            hint=f"see {self.workdir / 'coredns.log'}",
        )

    def pid(self) -> int | None:
        """The pid of our CoreDNS if it is running, else None."""
        return pid_from_file("coredns", self.pid_file, str(self.workdir / "Corefile"))

    def ready(self) -> bool:
        """True when CoreDNS answers its readiness endpoint (its API cache has synced)."""
        url = f"http://{LOOPBACK}:{self.ready_port}/ready"
        with _DIRECT.open(url, timeout=1) as resp:
            return bool(resp.status == 200)

    def stop(self) -> None:
        """Stop CoreDNS if it runs; forget its pid."""
        pid = self.pid()
        if pid:
            terminate(pid)
        self.pid_file.unlink(missing_ok=True)


# -- telling the cluster's other users where its DNS answers --------------------------------
# A simulated cluster shared on one machine (a workshop on one server): its learners use the
# existing backend, which cannot know the port stslab chose. The cluster says it, in a
# ConfigMap every signed-in account may read (kube-public, as kubeadm's cluster-info).
PUBLIC_NAMESPACE = "kube-public"


def publish(api: Any, port: int) -> None:
    """Write ``127.0.0.1:<port>`` where :func:`published` reads it, readable by every account."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    meta = {"name": DNS_INFO, "labels": {MANAGED_LABEL: "true"}}
    core.create_namespaced_config_map(
        PUBLIC_NAMESPACE, {"metadata": meta, "data": {"server": f"{LOOPBACK}:{port}"}}
    )
    rbac.create_namespaced_role(
        PUBLIC_NAMESPACE,
        {
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [DNS_INFO],
                    "verbs": ["get"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        PUBLIC_NAMESPACE,
        {
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DNS_INFO},
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": "system:authenticated",
                }
            ],
        },
    )


def published(api: Any) -> tuple[str, int] | None:
    """Where the cluster says its DNS answers, if it says so and it is on this machine."""
    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map(DNS_INFO, PUBLIC_NAMESPACE)
    except ApiException:
        return None
    host, _, port = (cm.data or {}).get("server", "").rpartition(":")
    if host != LOOPBACK or not port.isdigit():  # never a query to another address
        return None
    return host, int(port)
