"""What ``stslab status`` says about a kwok cluster: does it answer, and how are its parts.

:func:`serving` asks the apiserver for its version; :func:`running_status` describes a cluster
that answers: where its apiserver and DNS listen, whether CoreDNS, the real node and the
supervisor run, what the supervisor restarted, and the nodes.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from stslab.cluster import nodes as labnodes
from stslab.cluster.base import ClusterRecord, Status
from stslab.cluster.dns import CoreDNS
from stslab.cluster.kwok.realnode import RealNode
from stslab.cluster.kwok.supervisor import describe, read_restarts, supervisor_pid
from stslab.core.kube import api_client, server_version


def serving(rec: ClusterRecord) -> bool:
    """True when the recorded cluster's apiserver answers (within 2 seconds)."""
    try:
        api = api_client(rec.kubeconfig, rec.context)
        client.VersionApi(api).get_code(_request_timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not serving"
        return False
    return True


def running_status(
    backend: str,
    rec: ClusterRecord,
    dns: CoreDNS,
    real_node: RealNode | None,
    workdir: Path,
    healed: bool,
) -> Status:
    """The status of a cluster that answers, with its nodes.

    ``real_node`` is the cluster's real node, if it has one; ``workdir`` its state directory
    (where the supervisor keeps its pid and restarts); ``healed``: its kubeconfig was written
    again just now.
    """
    core = client.CoreV1Api(api_client(rec.kubeconfig, rec.context))
    detail = (
        f"apiserver https://127.0.0.1:{rec.extra['api_port']}, "
        f"DNS 127.0.0.1:{dns.port} ({'up' if dns.pid() else 'DOWN'})"
    )
    if real_node is not None:
        detail += f", real node {real_node.name} ({'up' if real_node.pid('kubelet') else 'DOWN'})"
    detail += f", supervisor {'up' if supervisor_pid(workdir) else 'DOWN'}"
    if healed:
        detail += "; its kubeconfig was damaged and has been written again"
    restarts = describe(read_restarts(workdir))
    if restarts:
        detail += f"; {restarts}"
    gpus = (
        f"{rec.gpus_per_node} per worker, simulated in node status (no kubelet runs a plugin)"
        if rec.gpus_per_node
        else ""
    )
    nodes = labnodes.node_summary(core)
    return Status(
        backend,
        "running",
        detail,
        nodes,
        rec.kubeconfig,
        gpus=gpus,
        kubernetes=server_version(core.api_client),
    )
