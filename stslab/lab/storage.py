"""Storage helpers for the labs: static volume pools, why a claim is Pending, host paths.

On the simulated backend a hostPath volume lives on this machine: the controller-manager sees
``/tmp`` as the lab's volume directory, so a PV at ``/tmp/<namespace>/<name>`` is the directory
``<state>/kwok/volumes/<namespace>/<name>`` here — real files a lab can write and read back.
On kind/k3d the path is on the node (inside its container).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from stslab.cluster.lifecycle import LabCluster, open_cluster
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until

DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def default_class(api: client.ApiClient) -> str | None:
    """The name of the cluster's default StorageClass (never hard-code it), or None."""
    for sc in client.StorageV1Api(api).list_storage_class().items:
        if (sc.metadata.annotations or {}).get(DEFAULT_ANNOTATION) == "true":
            return str(sc.metadata.name)
    return None


def volume_path(namespace: str, name: str) -> str:
    """The hostPath of a lab's hand-made volume (as the cluster sees it)."""
    return f"/tmp/stslab-{namespace}/{name}"


def local_dir(path: str, cluster: LabCluster | None = None) -> Path | None:
    """Where a hostPath volume's files are on *this* machine (the simulated backend), else None.

    ``cluster`` is the lab's (``lab.cluster``); without it, the running lab cluster.
    """
    root = (cluster or open_cluster()).local_volume_dir()
    if root is None or not path.startswith("/tmp/"):
        return None
    return root / path.removeprefix("/tmp/")


def host_path_pv(
    namespace: str,
    name: str,
    *,
    size: str = "1Gi",
    access_modes: list[str] | None = None,
    storage_class: str = "",
    reclaim: str = "Retain",
    path: str | None = None,
    labels: dict[str, str] | None = None,
    node: str | None = None,
) -> dict[str, Any]:
    """A hand-made (static) hostPath PersistentVolume; ``node`` pins it (and its pods) there.

    A hostPath is a directory of whichever node mounts it: on a cluster of several real nodes,
    pinning keeps every pod that uses the volume on the node that holds its files.
    """
    pv: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": access_modes or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": reclaim,
            "storageClassName": storage_class,
            "hostPath": {"path": path or volume_path(namespace, name), "type": "DirectoryOrCreate"},
        },
    }
    if node is not None:
        term = {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
        terms = [{"matchExpressions": [term]}]
        pv["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": terms}}
    return pv


def a_worker(core: client.CoreV1Api) -> str:
    """A schedulable node that is not a control-plane node (the first, by name)."""
    names = sorted(
        n.metadata.name
        for n in core.list_node().items
        if not n.spec.unschedulable
        and "node-role.kubernetes.io/control-plane" not in (n.metadata.labels or {})
    )
    if not names:
        raise ClusterStateError("this cluster has no schedulable worker node", "start one")
    return str(names[0])


def node_files(lab: Any, node: str, directory: str, timeout: float = 120) -> dict[str, str]:
    """The files under ``directory`` on ``node`` and their contents, read by a pod there.

    ``kubectl debug node/NODE`` does much the same; this pod mounts just ``directory``, runs on
    ``node`` by name, reads and goes. Needs a backend whose nodes run containers.
    """
    name = f"inspect-{node}"[:63]
    lab.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                # Placed by name, the pod passes over a NoSchedule taint (a control plane's)
                # without tolerating it; a workshop refuses pods that tolerate every taint.
                "nodeName": node,
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": "inspect",
                        "image": "busybox:1.28",
                        "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "dir", "mountPath": "/inspect"}],
                    }
                ],
                "volumes": [
                    {"name": "dir", "hostPath": {"path": directory, "type": "DirectoryOrCreate"}}
                ],
            },
        }
    )
    try:

        def running() -> bool:
            phase = lab.core.read_namespaced_pod(name, lab.namespace).status.phase
            return bool(phase == "Running")

        wait_until(running, timeout=timeout, what=f"a pod reading {directory} on {node}")
        script = 'cd /inspect && for f in $(find . -type f); do echo "== $f"; cat "$f"; done'
        out = lab.exec_in(name, script).stdout
    finally:
        lab.core.delete_namespaced_pod(name, lab.namespace, grace_period_seconds=0)
    files: dict[str, str] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("== ./"):
            current = line.removeprefix("== ./")
            files[current] = ""
        elif current is not None:
            files[current] += line + "\n"
    return files


def claim(
    name: str,
    *,
    size: str = "1Gi",
    access_modes: list[str] | None = None,
    storage_class: str | None = None,
    volume_name: str | None = None,
    selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A PersistentVolumeClaim (``storage_class`` None: the default class; "" : static only)."""
    spec: dict[str, Any] = {
        "accessModes": access_modes or ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    if volume_name:
        spec["volumeName"] = volume_name
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }


def _quantity(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for u, f in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * f
    return float(q)


def why_pending(api: client.ApiClient, namespace: str, name: str) -> list[str]:
    """Plain reasons why claim ``name`` is not Bound: one line per candidate volume, or class."""
    core = client.CoreV1Api(api)
    c = core.read_namespaced_persistent_volume_claim(name, namespace)
    if c.status.phase == "Bound":
        return [f"{name} is Bound to {c.spec.volume_name}"]
    want = _quantity(c.spec.resources.requests["storage"])
    modes = set(c.spec.access_modes or [])
    cls = c.spec.storage_class_name
    reasons = []
    classes = {sc.metadata.name: sc for sc in client.StorageV1Api(api).list_storage_class().items}
    if cls and cls in classes:
        sc = classes[cls]
        if sc.volume_binding_mode == "WaitForFirstConsumer":
            reasons.append(
                f"class {cls} binds only when a pod that uses the claim is scheduled "
                "(WaitForFirstConsumer)"
            )
        else:
            reasons.append(
                f"class {cls} provisions through {sc.provisioner}; see the claim's events"
            )
    elif cls:
        reasons.append(
            f"there is no StorageClass {cls!r}: nothing can provision it, and only a "
            f"volume of class {cls!r} could bind"
        )
    unselected = 0  # volumes the claim's selector leaves out (other labs' pools): one line
    for pv in core.list_persistent_volume().items:
        s = pv.spec
        wanted = c.spec.selector.match_labels if c.spec.selector else None
        if wanted and any((pv.metadata.labels or {}).get(k) != v for k, v in wanted.items()):
            unselected += 1
            continue
        why = []
        if (s.storage_class_name or "") != (cls or ""):
            why.append(f"class {s.storage_class_name or '(none)'} ≠ {cls or '(none)'}")
        if _quantity(s.capacity["storage"]) < want:
            why.append(f"size {s.capacity['storage']} < {c.spec.resources.requests['storage']}")
        if not modes <= set(s.access_modes or []):
            why.append(f"modes {s.access_modes} lack {sorted(modes - set(s.access_modes or []))}")
        if (s.volume_mode or "Filesystem") != (c.spec.volume_mode or "Filesystem"):
            why.append(f"volumeMode {s.volume_mode} ≠ {c.spec.volume_mode}")
        if pv.status.phase != "Available":
            why.append(f"it is {pv.status.phase}")
        if why:
            reasons.append(f"PV {pv.metadata.name}: " + "; ".join(why))
    if unselected:
        reasons.append(f"{unselected} other volume(s): labels not matching the claim's selector")
    events = [
        e.message
        for e in core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        ).items
    ]
    if events:
        reasons.append(f"latest event: {events[-1]}")
    return reasons
