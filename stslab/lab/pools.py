"""Node pools a lab makes for itself: GPU machines and CPU-only machines.

A GPU platform keeps its expensive machines for the workloads that need them: GPU nodes carry
a taint (``nvidia.com/gpu=present:NoSchedule``) that only pods tolerating it may ignore, and a
pool label that VMs select with node affinity. Lab 06 builds such pools out of simulated nodes,
named after its namespace and labelled with it, so :class:`stslab.lab.context.Lab` removes them with
the rest of the lab. Only the simulated backend can add machines; on kind/k3d the nodes are
containers that ``kind create cluster`` made.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from stslab.cluster.nodes import create_node, kwok_node
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until
from stslab.core.labels import GPU_RESOURCE, LAB_LABEL, POOL_LABEL
from stslab.observe.recorder import pod_gpus

GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


def create_pool(
    lab: Any, pool: str, count: int, *, gpus: int = 0, taint: bool = False
) -> list[str]:
    """Add ``count`` simulated nodes ``<namespace>-<pool>-<n>``; wait until they are Ready.

    Their pool label is ``<namespace>-<pool>``, so two learners' pools never mix. ``lab`` is
    a :class:`stslab.lab.context.Lab`; its label goes on every node, so its cleanup deletes them.
    ``taint`` keeps pods that do not tolerate GPUs off these nodes.
    """
    if not lab.cluster.can_add_nodes:
        raise ClusterStateError(
            f"adding machines needs the simulated backend; this cluster is {lab.backend}",
            "run this lab on the simulated backend: `stslab up --backend kwok`",
        )
    names = []
    for i in range(count):
        name = f"{lab.namespace}-{pool}-{i + 1}"
        manifest = kwok_node(i, gpus, name=name)
        labels = {POOL_LABEL: f"{lab.namespace}-{pool}", LAB_LABEL: lab.namespace}
        manifest["metadata"]["labels"] |= labels
        if taint:
            manifest["spec"]["taints"] = [GPU_TAINT]
        names.append(create_node(lab.core, manifest))

    def ready() -> bool:
        nodes = [lab.core.read_node(n) for n in names]
        return all(
            any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            for n in nodes
        )

    wait_until(ready, timeout=lab.timeout, what=f"the {pool} pool's nodes becoming Ready")
    return names


def pool_table(core: client.CoreV1Api, pools: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per pooled node: pool, zone, taints, GPUs allocatable and requested by pods."""
    used: dict[str, int] = {}
    for p in core.list_pod_for_all_namespaces(field_selector="status.phase!=Succeeded").items:
        if p.spec.node_name and p.status.phase != "Failed":
            used[p.spec.node_name] = used.get(p.spec.node_name, 0) + pod_gpus(p)
    rows = []
    for n in core.list_node(label_selector=POOL_LABEL).items:
        pool = n.metadata.labels[POOL_LABEL]
        if pools is not None and pool not in pools:
            continue
        rows.append(
            {
                "node": n.metadata.name,
                "pool": pool,
                "taints": ", ".join(
                    f"{t.key}={t.value or ''}:{t.effect}" for t in n.spec.taints or []
                ),
                "GPUs": int((n.status.allocatable or {}).get(GPU_RESOURCE, "0")),
                "GPUs in use": used.get(n.metadata.name, 0),
            }
        )
    return rows
