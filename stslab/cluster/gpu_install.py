"""Shipping the fake GPU plugin to a lab cluster.

On kind and k3d it runs as a DaemonSet (``clusters/gpu/daemonset.yaml``): the image is built
from ``clusters/gpu/Dockerfile`` with ``docker build``, loaded into the nodes with the
backend's own image loader (no registry involved) and the DaemonSet is applied. The kwok
backend has no kubelet, so no device plugin can run there; its nodes' status carries the GPUs.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from stslab.cluster.choose import Backend
from stslab.cluster.containers import K3dBackend, KindBackend
from stslab.core.errors import ClusterStateError, StslabError, ToolMissingError, UsageError
from stslab.core.kube import api_client
from stslab.core.labels import GPU_RESOURCE
from stslab.core.paths import project_root
from stslab.core.procs import run
from stslab.gpu.config import MAX_DEVICES, plugin_image

KWOK_NOTE = (
    "kwok simulates the kubelet, so no device plugin can run there; instead the kwok adapter "
    "put the same configuration into node status"
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


def manifest_yaml(count: int = 8) -> str:
    """:func:`daemonset` as YAML, for ``kubectl apply -f -``."""
    return yaml.safe_dump(daemonset(count), sort_keys=False)


def image_commands(backend: KindBackend | K3dBackend) -> list[list[str]]:
    """``docker build`` of the plugin image, then the backend's command that loads it."""
    image = plugin_image()
    build = [
        "docker",
        "build",
        "--file",
        str(dockerfile_path()),
        "--tag",
        image,
        str(project_root()),
    ]
    # The backend's preload commands pull from a registry first; this image is built locally.
    load = [c for c in backend.preload_commands([image]) if c[:2] != ["docker", "pull"]]
    return [build, *load]


def apply_daemonset(kubeconfig: str, manifest: dict[str, Any]) -> None:
    """Create the DaemonSet, or replace it (which rolls its pods) if it exists."""
    apps = client.AppsV1Api(api_client(kubeconfig))
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


def _advertise_on_kwok(backend: Backend, dry_run: bool, say: Callable[[str], None]) -> None:
    """The kwok adapter: the GPUs a plugin would report, written into the workers' status."""
    from kubernetes import client

    from stslab.cluster.nodes import GPU_MODEL, advertise_gpus, lab_workers

    rec = backend.record()
    if rec is None:
        raise ClusterStateError(
            "there is no kwok lab cluster", "start one with `stslab up --backend kwok`"
        )
    core = client.CoreV1Api(api_client(rec.kubeconfig))
    workers = lab_workers(core)
    if not dry_run:
        for node in workers:
            advertise_gpus(core, node, rec.gpus_per_node, GPU_RESOURCE, GPU_MODEL)
    say(
        f"{KWOK_NOTE}: {rec.gpus_per_node} {GPU_RESOURCE} ({GPU_MODEL}) on each of "
        f"{', '.join(workers)}; the scheduler counts them"
    )


def install(
    backend: Backend,
    *,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
    runner: Callable[..., object] = run,
) -> None:
    """Put the fake GPU plugin on ``backend``'s lab cluster (``stslab gpu install``).

    kind/k3d: build and load the image, then apply the DaemonSet with the cluster's GPUs per
    node. ``dry_run`` only says what it would run. kwok: the kwok adapter sets the same GPU
    count in the workers' status (:func:`stslab.cluster.nodes.advertise_gpus`). Anything else raises
    :class:`~stslab.core.errors.UsageError`.
    """
    if not backend.runs_containers:  # no kubelet to run a plugin: write node status
        _advertise_on_kwok(backend, dry_run, say)
        return
    if not isinstance(backend, KindBackend | K3dBackend):
        raise UsageError(
            f"`stslab gpu install` works on kind and k3d lab clusters, not on {backend.name}",
            "on a shared cluster ask its admins; `stslab gpu manifest` prints the DaemonSet",
        )
    rec = backend.record()
    if rec is None:
        raise ClusterStateError(
            f"there is no {backend.name} lab cluster",
            f"start one with `stslab up --backend {backend.name}`",
        )
    if rec.gpus_per_node < 1:
        raise UsageError(
            f"the {backend.name} lab cluster has no GPUs (started with --gpus-per-node 0)",
            f"recreate it: `stslab down --backend {backend.name}` then `stslab up` with GPUs",
        )
    commands = image_commands(backend)
    manifest = daemonset(rec.gpus_per_node)
    # A new value on every install, so the pods restart on the freshly loaded image.
    template_meta = manifest["spec"]["template"]["metadata"]
    template_meta["annotations"] = {"stslab.dev/installed-at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    meta = manifest["metadata"]
    what = (
        f"DaemonSet {meta['namespace']}/{meta['name']} "
        f"({plugin_image()}, {rec.gpus_per_node} GPUs per node)"
    )
    if dry_run:
        for cmd in commands:
            say(shlex.join(cmd))
        say(f"# then apply {what} with {rec.kubeconfig}")
        return
    for check in backend.checks():
        if not check.ok:
            raise ToolMissingError(
                f"installing the GPU plugin on {backend.name} needs {check.what}: {check.detail}",
                check.fix,
            )
    for cmd in commands:
        say(f"$ {shlex.join(cmd)}")
        runner(cmd, timeout=900, what=" ".join(cmd[:2]))
    apply_daemonset(rec.kubeconfig, manifest)
    say(f"applied {what}")
    say(
        "watch it with `kubectl -n kube-system rollout status ds/stslab-fake-gpu-plugin`; "
        "`stslab status` shows the GPUs the kubelets report"
    )
