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

import yaml
from kubernetes import client

from stslab.cluster.choose import Backend
from stslab.cluster.containers import K3dBackend, KindBackend
from stslab.cluster.gpu_plugin import apply_daemonset, daemonset
from stslab.core.errors import ClusterStateError, ToolMissingError, UsageError
from stslab.core.kube import api_client
from stslab.core.labels import GPU_RESOURCE
from stslab.core.procs import run
from stslab.gpu.config import plugin_image

KWOK_NOTE = (
    "kwok simulates the kubelet, so no device plugin can run there; instead the kwok adapter "
    "put the same configuration into node status"
)


def manifest_yaml(count: int = 8) -> str:
    """:func:`~stslab.cluster.gpu_plugin.daemonset` as YAML, for ``kubectl apply -f -``."""
    return yaml.safe_dump(daemonset(count), sort_keys=False)


def image_commands(backend: KindBackend | K3dBackend) -> list[list[str]]:
    """``docker build`` of the plugin image, then the backend's command that loads it."""
    return backend.plugin_image_commands()


def _advertise_on_kwok(backend: Backend, dry_run: bool, say: Callable[[str], None]) -> None:
    """The kwok adapter: the GPUs a plugin would report, written into the workers' status."""
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
    if backend.plugin_image_on_nodes():  # e.g. kind's offline node image: nothing to build
        say(f"every node already holds {plugin_image()}")
        commands = []
    for cmd in commands:
        say(f"$ {shlex.join(cmd)}")
        runner(cmd, timeout=900, what=" ".join(cmd[:2]))
    apply_daemonset(api_client(rec.kubeconfig), manifest)
    say(f"applied {what}")
    say(
        "watch it with `kubectl -n kube-system rollout status ds/stslab-fake-gpu-plugin`; "
        "`stslab status` shows the GPUs the kubelets report"
    )
