"""Lab nodes: zone labels and simulated GPUs.

On kwok nothing calls a device plugin, so a node advertises GPUs the way fake-gpu-operator's
kwok mode does: its status carries ``nvidia.com/gpu`` in capacity and allocatable, and the real
scheduler counts them. A node a real kubelet runs (kind, k3d, the real node) never gets GPUs
this way: only the fake device plugin gives them there (:mod:`~stslab.cluster.gpu_plugin`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kubernetes import client

from stslab.core.errors import ClusterStateError
from stslab.core.kube import tolerating_absence, wait_until
from stslab.core.labels import GPU_RESOURCE, MANAGED_LABEL, ZONE_LABEL

GPU_MODEL = "stslab-fake-a100"
ZONES = ("zone-a", "zone-b", "zone-c")


SIMULATED_ANNOTATION = "kwok.x-k8s.io/node"  # "fake": kwok plays this node's kubelet
NODE_LEASES = "kube-node-lease"  # each node's heartbeat Lease lives here
SWITCHED_OFF = "stslab: switched off"  # the holder of a switched-off simulated node's Lease


def is_simulated(node: Any) -> bool:
    """Whether kwok plays ``node`` (a V1Node): no container runs there."""
    return (node.metadata.annotations or {}).get(SIMULATED_ANNOTATION) == "fake"


def worker_name(i: int) -> str:
    """Name of the i-th (1-based) simulated worker node."""
    return f"kwok-worker-{i}"


def node_labels(name: str, index: int, gpus: int) -> dict[str, str]:
    """Labels of a lab worker: hostname, zone (round-robin), GPU model and count."""
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/worker": "",
        ZONE_LABEL: ZONES[index % len(ZONES)],
        MANAGED_LABEL: "true",
    }
    if gpus:
        labels |= {"nvidia.com/gpu.product": GPU_MODEL, "nvidia.com/gpu.count": str(gpus)}
    return labels


def capacity(gpus: int) -> dict[str, str]:
    """Capacity of a simulated worker: a modest machine, plus its GPUs."""
    cap = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}
    if gpus:
        cap[GPU_RESOURCE] = str(gpus)
    return cap


def kwok_node(index: int, gpus: int, name: str | None = None) -> dict[str, Any]:
    """The manifest of one kwok-simulated worker node (named ``kwok-worker-<index+1>``)."""
    name = name or worker_name(index + 1)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels(name, index, gpus) | {"type": "kwok"},
            "annotations": {SIMULATED_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {"capacity": capacity(gpus), "allocatable": capacity(gpus)},
    }


def advertise_gpus(
    core: client.CoreV1Api,
    node: str,
    gpus: int,
    resource: str = GPU_RESOURCE,
    model: str = GPU_MODEL,
) -> None:
    """Set a node's GPUs in capacity/allocatable (status subresource) and its GPU labels.

    This is the kwok adapter of the fake device plugin: where no kubelet runs a plugin, the
    same resource name, count and model go straight into the node's status, so the real
    scheduler counts the same GPUs. ``gpus`` 0 removes the resource and the labels.

    A node a real kubelet runs is refused: there a pod asking for a GPU written into the status
    would start with no device, so its GPUs come only from the device plugin.
    """
    if not is_simulated(core.read_node(node)):
        raise ClusterStateError(
            f"node {node} is run by a real kubelet: its GPUs come only from the device plugin",
            "`stslab gpu install` runs the fake plugin there",
        )
    value = str(gpus) if gpus else None  # None removes the resource
    body = {"status": {"capacity": {resource: value}, "allocatable": {resource: value}}}
    core.patch_node_status(node, body)
    prefix = resource.split("/")[0]
    labels = {f"{prefix}/gpu.product": model if gpus else None, f"{prefix}/gpu.count": value}
    core.patch_node(node, {"metadata": {"labels": labels}})


def lab_workers(core: client.CoreV1Api) -> list[str]:
    """The worker nodes ``stslab up`` made (not the machines a lab added for itself)."""
    return [
        n.metadata.name
        for n in core.list_node(label_selector=f"{MANAGED_LABEL}=true,!stslab.dev/lab").items
    ]


def create_node(core: client.CoreV1Api, manifest: dict[str, Any]) -> str:
    """Create a simulated node with its capacity; return its name."""
    core.create_node(manifest)
    # The apiserver drops status on create; set capacity through the status subresource.
    core.patch_node_status(manifest["metadata"]["name"], {"status": manifest["status"]})
    return str(manifest["metadata"]["name"])


def create_kwok_nodes(core: client.CoreV1Api, count: int, gpus: int) -> list[str]:
    """Create ``count`` simulated workers with ``gpus`` GPUs each; return their names."""
    return [create_node(core, kwok_node(i, gpus)) for i in range(count)]


def node_summary(core: client.CoreV1Api) -> list[dict[str, Any]]:
    """One row per node: name, ready, zone, GPU allocatable."""
    rows = []
    for n in core.list_node().items:
        ready = any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        rows.append(
            {
                "name": n.metadata.name,
                "ready": ready,
                "zone": (n.metadata.labels or {}).get(ZONE_LABEL, ""),
                "gpus": int((n.status.allocatable or {}).get(GPU_RESOURCE, "0")),
            }
        )
    return rows


def switch_heartbeats(api: client.ApiClient, node: str, *, on: bool) -> None:
    """Stop (``on`` False) or resume a simulated node's heartbeats, as a power cut would.

    kwok leaves alone a Lease someone else holds, so holding it stops the renewals: the node
    goes NotReady once the controller-manager's grace period passes. Deleting the Lease lets
    kwok take the node back at once.
    """
    client.CoreV1Api(api).read_node(node)  # an unknown node: the API's 404, not a lease's
    leases = client.CoordinationV1Api(api)
    if on:
        tolerating_absence(leases.delete_namespaced_lease, node, NODE_LEASES)
        return
    now = datetime.now(timezone.utc)
    held = {"holderIdentity": SWITCHED_OFF, "leaseDurationSeconds": 600, "renewTime": now}
    leases.patch_namespaced_lease(node, NODE_LEASES, {"spec": held})


def release_leases(api: client.ApiClient) -> None:
    """Free the simulated nodes' leases that a dead kwok-controller held.

    Each kwok process has a random identity, and a node lease held by another identity is left
    alone until it expires (200 s as kwokctl starts kwok, 40 s as stslab does): until then a
    restarted kwok plays no pod. Deleting the leases lets it take the nodes over at once.
    """
    core, leases = client.CoreV1Api(api), client.CoordinationV1Api(api)

    held = {  # a machine a lab switched off stays off (stslab's hold, not a dead kwok's)
        lease.metadata.name
        for lease in leases.list_namespaced_lease(NODE_LEASES).items
        if lease.spec.holder_identity == SWITCHED_OFF
    }

    def release() -> bool:
        for node in core.list_node().items:
            if is_simulated(node) and node.metadata.name not in held:
                try:
                    leases.delete_namespaced_lease(node.metadata.name, NODE_LEASES)
                except client.ApiException as e:
                    if e.status != 404:
                        raise
        return True

    wait_until(release, timeout=30, what="releasing the simulated nodes' leases")
