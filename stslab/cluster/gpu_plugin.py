"""GPUs on real kubelets come only from the fake device plugin: its DaemonSet, and if it serves.

On kind and k3d nothing writes GPUs into a node's status. A hand-written extended resource is
not the kubelet's: a pod asking for it would be admitted and started with no device allocated.
So a worker offers GPUs only once the plugin registered there, and until then a GPU request is
Pending. ``stslab up`` applies the DaemonSet (``clusters/gpu/daemonset.yaml``) to every lab
worker that no lab has taken into a pool (a lab's pool runs a plugin of its own) and waits for
it; :func:`problems` says, per node, why its GPUs are not offered yet.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from stslab.core.errors import ClusterStateError, StslabError, UsageError
from stslab.core.labels import GPU_RESOURCE, MANAGED_LABEL, POOL_LABEL
from stslab.core.paths import project_root
from stslab.gpu.config import MAX_DEVICES, plugin_image

NAMESPACE = "kube-system"
NAME = "stslab-fake-gpu-plugin"
SELECTOR = f"app.kubernetes.io/name={NAME}"
# Reasons a container waits that mean its image is not on the node (and will not arrive).
_NO_IMAGE = {"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"}
_CRASHING = {"CrashLoopBackOff", "RunContainerError", "CreateContainerError"}
IMAGE_FIX = (
    "`stslab gpu install` builds it and loads it into the nodes; offline, `stslab down` then "
    "`stslab up --node-image offline` gives nodes that carry it"
)


def daemonset_path() -> Path:
    """The shipped DaemonSet manifest."""
    return project_root() / "clusters" / "gpu" / "daemonset.yaml"


def dockerfile_path() -> Path:
    """The plugin image's Dockerfile (its build context is the project root)."""
    return project_root() / "clusters" / "gpu" / "Dockerfile"


def daemonset(count: int = 8) -> dict[str, Any]:
    """The DaemonSet with this version's image and ``count`` GPUs per node."""
    if not 1 <= count <= MAX_DEVICES:
        raise UsageError(f"--count {count} is out of range", f"use 1 to {MAX_DEVICES}")
    ds: dict[str, Any] = yaml.safe_load(daemonset_path().read_text())
    container = ds["spec"]["template"]["spec"]["containers"][0]
    container["image"] = plugin_image()
    container["args"] = [
        f"--count={count}" if a.startswith("--count=") else a for a in container["args"]
    ]
    return ds


def apply_daemonset(api: client.ApiClient, manifest: dict[str, Any]) -> None:
    """Create the DaemonSet, or replace it (which rolls its pods) if it exists."""
    apps = client.AppsV1Api(api)
    meta = manifest["metadata"]
    try:
        try:
            apps.create_namespaced_daemon_set(meta["namespace"], manifest)
        except ApiException as e:
            if e.status != 409:
                raise
            apps.replace_namespaced_daemon_set(meta["name"], meta["namespace"], manifest)
    except ApiException as e:
        raise StslabError(
            f"applying DaemonSet {meta['namespace']}/{meta['name']} failed: {e.status} {e.reason}",
            "check the cluster with `stslab status`",
        ) from None


def workers(core: client.CoreV1Api) -> list[str]:
    """The workers the cluster's plugin serves: lab workers that no lab took into a pool."""
    selector = f"{MANAGED_LABEL}=true,!{POOL_LABEL}"
    return [n.metadata.name for n in core.list_node(label_selector=selector).items]


def offered(node: client.V1Node) -> int:
    """The GPUs a node offers (allocatable; on a real kubelet only a plugin puts them there)."""
    return int((node.status.allocatable or {}).get(GPU_RESOURCE, "0") or 0)


class GpusNotReadyError(ClusterStateError):
    """A node's GPUs are not (yet) offered by the plugin; ``lasting`` when waiting cannot help."""

    def __init__(self, cause: str, fix: str, *, lasting: bool = True) -> None:
        super().__init__(cause, fix)
        self.lasting = lasting


def problems(
    core: client.CoreV1Api,
    nodes: list[str],
    gpus: int,
    *,
    namespace: str = NAMESPACE,
    name: str = NAME,
) -> dict[str, GpusNotReadyError]:
    """Each of ``nodes`` that does not offer ``gpus`` GPUs from the plugin, with why and the fix.

    ``namespace``/``name``: the plugin's DaemonSet (the cluster's, or a lab pool's own).
    An empty answer means every node's GPUs come from the plugin.
    """
    short = {
        n.metadata.name: n
        for n in core.list_node().items
        if n.metadata.name in nodes and offered(n) != gpus
    }
    if not short:
        return {}
    try:
        client.AppsV1Api(core.api_client).read_namespaced_daemon_set(name, namespace)
    except ApiException as e:
        if e.status != 404:
            raise
        gone = GpusNotReadyError(
            f"the fake GPU plugin's DaemonSet {namespace}/{name} is gone, so no worker offers "
            "GPUs (a pod asking for one stays Pending)",
            "`stslab gpu install` puts it back",
        )
        return dict.fromkeys(short, gone)
    pods = {
        p.spec.node_name: p
        for p in core.list_namespaced_pod(namespace, label_selector=SELECTOR).items
        if p.spec.node_name
    }
    return {n: _why(n, pods.get(n), gpus, offered(node), namespace) for n, node in short.items()}


def _why(
    node: str, pod: client.V1Pod | None, gpus: int, now: int, namespace: str
) -> GpusNotReadyError:
    """Why ``node`` offers ``now`` GPUs instead of ``gpus``."""
    waiting = ""
    for cs in (pod.status.container_statuses or []) if pod else []:
        if cs.state and cs.state.waiting and cs.state.waiting.reason:
            waiting = cs.state.waiting.reason
    if waiting in _NO_IMAGE:
        return GpusNotReadyError(
            f"the fake GPU plugin's image {plugin_image()} is not on node {node} ({waiting}), "
            "so it offers no GPUs",
            IMAGE_FIX,
        )
    if waiting in _CRASHING:
        return GpusNotReadyError(
            f"the fake GPU plugin on node {node} keeps failing ({waiting})",
            f"read why: `kubectl -n {namespace} logs {pod.metadata.name if pod else ''}`",
        )
    where = "has no pod there yet" if pod is None else "has not registered with its kubelet yet"
    return GpusNotReadyError(
        f"node {node} offers {now} of its {gpus} GPUs: the fake GPU plugin {where}",
        f"wait a few seconds and try again; `kubectl -n {namespace} get pods -l {SELECTOR} "
        "-o wide` shows the plugin's pods",
        lasting=False,
    )


def wait_for_plugin(
    core: client.CoreV1Api,
    nodes: list[str],
    gpus: int,
    *,
    timeout: float = 180,
    namespace: str = NAMESPACE,
    name: str = NAME,
) -> float:
    """Wait until every one of ``nodes`` offers ``gpus`` GPUs from the plugin; return the seconds.

    Fails at once with the cause and the fix when waiting cannot help (the image is missing, the
    DaemonSet is gone); at ``timeout`` with the first node's reason.
    """
    start = time.monotonic()
    grace = start + 15  # a plugin pod may pass through an error state while it starts
    while True:
        left = problems(core, nodes, gpus, namespace=namespace, name=name)
        if not left:
            return time.monotonic() - start
        first = next(iter(left.values()))
        now = time.monotonic()
        if now >= start + timeout or (now >= grace and first.lasting):
            raise first
        time.sleep(1)
