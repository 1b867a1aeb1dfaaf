"""Node pools a lab makes for itself: GPU machines and CPU-only machines.

A GPU platform keeps its expensive machines for the workloads that need them: GPU nodes carry
a taint (``nvidia.com/gpu=present:NoSchedule``) that only pods tolerating it may ignore, and a
pool label that VMs select with node affinity. Lab 06 builds such pools out of simulated nodes,
named after its namespace and labelled with it, so :class:`stslab.lab.context.Lab` removes them with
the rest of the lab. Only the simulated backend can add machines. On kind the pools are the
cluster's own workers: the lab labels and taints them (and annotates them, so its cleanup takes
that off again), and GPUs come from stslab's fake device plugin, run as a DaemonSet on the GPU
pool's nodes in the lab's namespace (the cluster's own plugin leaves a pooled worker).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cluster import gpu_plugin
from stslab.cluster.nodes import advertise_gpus, create_node, is_simulated, kwok_node
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until
from stslab.core.labels import (
    GPU_RESOURCE,
    LAB_LABEL,
    LEARNER_LABEL,
    POOL_LABEL,
    POOLED_ANNOTATION,
    POOLED_GPUS_ANNOTATION,
)
from stslab.observe.recorder import pod_gpus

OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"  # non-graceful node shutdown's taint
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
        _refuse_shared_workers(lab)
        return _adopt_workers(lab, pool, count, gpus=gpus, taint=taint)
    names = []
    for i in range(count):
        name = f"{lab.namespace}-{pool}-{i + 1}"
        manifest = kwok_node(i, gpus, name=name)
        labels = {POOL_LABEL: f"{lab.namespace}-{pool}", LAB_LABEL: lab.namespace}
        learner = getattr(lab, "learner", None)
        if learner:  # a workshop learner's machine (see Lab.label): theirs alone
            labels[LEARNER_LABEL] = learner
        manifest["metadata"]["labels"] |= labels
        taints = ([GPU_TAINT] if taint else []) + ([learner_taint(learner)] if learner else [])
        if taints:
            manifest["spec"]["taints"] = taints
        names.append(create_node(lab.core, manifest))

    def ready() -> bool:
        nodes = [lab.core.read_node(n) for n in names]
        return all(
            any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            for n in nodes
        )

    wait_until(ready, timeout=lab.timeout, what=f"the {pool} pool's nodes becoming Ready")
    return names


def learner_taint(learner: str) -> dict[str, str]:
    """The taint on a workshop learner's own machines: only their pods run there.

    The workshop's admission policy refuses a learner's node without it, so no learner can add a
    machine that draws other learners' pods onto it.
    """
    return {"key": LEARNER_LABEL, "value": learner, "effect": "NoSchedule"}


def pool_table(core: client.CoreV1Api, pools: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per pooled node: pool, zone, taints, GPUs allocatable and requested by pods."""
    pooled = [
        n
        for n in core.list_node(label_selector=POOL_LABEL).items
        if pools is None or n.metadata.labels[POOL_LABEL] in pools
    ]
    used: dict[str, int] = {}
    for p in _running_pods(core, pooled):
        if p.spec.node_name and p.status.phase != "Failed":
            used[p.spec.node_name] = used.get(p.spec.node_name, 0) + pod_gpus(p)
    rows = []
    for n in pooled:
        pool = n.metadata.labels[POOL_LABEL]
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


def _running_pods(core: client.CoreV1Api, nodes: list[client.V1Node]) -> list[client.V1Pod]:
    """Every unfinished pod; for a learner (who may not list them all) their labs' pods.

    Their labs are those that made ``nodes``; only a learner's own pods run on their machines,
    so these are all the pods there.
    """
    unfinished = "status.phase!=Succeeded"
    try:
        return list(core.list_pod_for_all_namespaces(field_selector=unfinished).items)
    except ApiException as e:
        if e.status != 403:
            raise
    spaces = {str(n.metadata.labels[LAB_LABEL]) for n in nodes if LAB_LABEL in n.metadata.labels}
    return [
        p
        for ns in sorted(spaces)
        for p in core.list_namespaced_pod(ns, field_selector=unfinished).items
    ]


def free_workers(core: client.CoreV1Api) -> list[str]:
    """Schedulable workers in no pool (not control-plane nodes), by name."""
    return sorted(
        n.metadata.name
        for n in core.list_node().items
        if not n.spec.unschedulable
        and POOL_LABEL not in (n.metadata.labels or {})
        and "node-role.kubernetes.io/control-plane" not in (n.metadata.labels or {})
    )


def pool_sizes(lab: Any, gpu: int = 3, cpu: int = 1) -> tuple[int, int]:
    """How many GPU and CPU machines a lab's pools get: added ones, or the workers there are.

    On a cluster that cannot add machines, every free worker but ``cpu`` goes to the GPU pool.
    """
    if lab.cluster.can_add_nodes:
        return gpu, cpu
    _refuse_shared_workers(lab)
    workers = len(free_workers(lab.core))
    if workers < cpu + 2:
        raise ClusterStateError(
            f"the GPU lab needs at least {cpu + 2} free workers; this cluster has {workers}",
            "start one with more nodes: `stslab down`, then `stslab up --nodes 3`",
        )
    return workers - cpu, cpu


def _refuse_shared_workers(lab: Any) -> None:
    """A workshop learner on a real shared cluster: its workers run everyone's pods."""
    if getattr(lab, "learner", None):
        raise ClusterStateError(
            "on a shared cluster of real machines a workshop account cannot take workers into "
            "pools: they run the other learners' pods",
            "run this lab on a cluster of your own (`stslab up`), or on a simulated workshop one",
        )


def _adopt_workers(lab: Any, pool: str, count: int, *, gpus: int, taint: bool) -> list[str]:
    """Put ``count`` of the cluster's free workers into pool ``<namespace>-<pool>``.

    A simulated worker's GPUs are set in its status. On a real kubelet only a device plugin
    gives GPUs: the cluster's plugin leaves a pooled worker, and a GPU pool runs the plugin with
    ``gpus`` devices in the lab's namespace; this waits until every machine offers them.
    """
    free = free_workers(lab.core)
    if len(free) < count:
        raise ClusterStateError(
            f"the {pool} pool needs {count} free workers; this cluster has {len(free)}",
            "start one with more nodes (`stslab up --nodes N`), or end the lab using them",
        )
    names, label, real = free[:count], f"{lab.namespace}-{pool}", []
    for name in names:
        node = lab.core.read_node(name)
        before = (node.status.capacity or {}).get(GPU_RESOURCE, "0")
        taints = [_taint(t) for t in node.spec.taints or []] + ([GPU_TAINT] if taint else [])
        lab.core.patch_node(
            name,
            {
                "metadata": {
                    "labels": {POOL_LABEL: label},
                    "annotations": {
                        POOLED_ANNOTATION: lab.namespace,
                        POOLED_GPUS_ANNOTATION: before,
                    },
                },
                "spec": {"taints": taints},
            },
        )
        if is_simulated(node):
            advertise_gpus(lab.core, name, gpus)
        else:
            real.append(name)
    if real:
        _wait_for_plugin_pods_gone(lab.core, gpu_plugin.NAMESPACE, real, lab.timeout)
    if real and gpus:
        ds = gpu_plugin.daemonset(count=gpus)
        ds["metadata"] = {"name": f"gpu-plugin-{pool}", "labels": ds["metadata"]["labels"]}
        spec = ds["spec"]["template"]["spec"]
        spec["nodeSelector"] = {POOL_LABEL: label}
        spec.pop("affinity", None)  # the cluster's plugin stays off pooled workers, not this one
        spec.pop("priorityClassName", None)
        lab.apply(ds)
        gpu_plugin.wait_for_plugin(
            lab.core,
            real,
            gpus,
            timeout=lab.timeout,
            namespace=lab.namespace,
            name=ds["metadata"]["name"],
        )
    elif real:  # a CPU machine: its GPUs go once the kubelet has seen the plugin leave

        def none_offered() -> bool:
            return not any(gpu_plugin.offered(lab.core.read_node(n)) for n in real)

        wait_until(none_offered, timeout=lab.timeout, what=f"the {pool} pool offering no GPUs")
    return names


def _wait_for_plugin_pods_gone(
    core: client.CoreV1Api, namespace: str, nodes: list[str], timeout: float
) -> None:
    """Wait until no fake GPU plugin pod of ``namespace`` runs on ``nodes``.

    One plugin per resource and node: a second one registering while the first is still
    stopping would leave the kubelet with the first one's disconnection.
    """

    def gone() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector=gpu_plugin.SELECTOR).items
        return not [p for p in pods if p.spec.node_name in nodes]

    wait_until(gone, timeout=timeout, what=f"the GPU plugin of {namespace} leaving {nodes}")


def _taint(t: client.V1Taint) -> dict[str, Any]:
    return {"key": t.key, "value": t.value, "effect": t.effect}


def release_workers(core: client.CoreV1Api, namespace: str) -> None:
    """Take the workers that ``namespace``'s lab put into its pools out again (its cleanup)."""
    pooled = [
        n
        for n in core.list_node().items
        if (n.metadata.annotations or {}).get(POOLED_ANNOTATION) == namespace
    ]
    real = [n.metadata.name for n in pooled if not is_simulated(n)]
    if real:  # the lab's own plugin first goes with its namespace; then the cluster's returns
        _wait_for_plugin_pods_gone(core, namespace, real, timeout=120)
    for node in pooled:
        notes = node.metadata.annotations or {}
        # The pool's taint, and an out-of-service one from a failure exercise (lab 06, §7).
        dropped = (GPU_RESOURCE, OUT_OF_SERVICE)
        taints = [_taint(t) for t in node.spec.taints or [] if t.key not in dropped]
        core.patch_node(
            node.metadata.name,
            {
                "metadata": {
                    "labels": {POOL_LABEL: None},
                    "annotations": {POOLED_ANNOTATION: None, POOLED_GPUS_ANNOTATION: None},
                },
                "spec": {"taints": taints or None},
            },
        )
        if is_simulated(node):
            advertise_gpus(core, node.metadata.name, int(notes.get(POOLED_GPUS_ANNOTATION) or 0))
