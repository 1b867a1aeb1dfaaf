"""The fake GPU plugin on the real-container backends (kind, k3d): its image, start and state.

:class:`GpuPluginMixin` is part of every container backend
(:class:`~stslab.cluster.containers.KindBackend`, :class:`~stslab.cluster.containers.K3dBackend`):
``up`` builds the plugin's image, loads it with the backend's own image loader (no registry
involved), runs the DaemonSet on every worker and waits for its GPUs
(:mod:`~stslab.cluster.gpu_plugin`).
"""

from __future__ import annotations

from kubernetes import client

from stslab.cluster import gpu_plugin
from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.core.paths import project_root
from stslab.core.procs import run
from stslab.gpu.config import plugin_image


class GpuPluginMixin:
    """The fake GPU plugin's part of a container backend; it supplies ``preload_commands``."""

    def preload_commands(self, images: list[str] | None = None) -> list[list[str]]:
        """Commands that pull the labs' images once and load them into the nodes (offline)."""
        raise NotImplementedError

    def plugin_image_commands(self) -> list[list[str]]:
        """``docker build`` of the fake GPU plugin's image, then this backend's loader."""
        image = plugin_image()
        root = project_root()
        build = ["docker", "build", "--file", str(gpu_plugin.dockerfile_path()), "--tag", image]
        # The preload commands pull from a registry first; this image is built locally.
        load = [c for c in self.preload_commands([image]) if c[:2] != ["docker", "pull"]]
        return [[*build, str(root)], *load]

    def plugin_image_on_nodes(self) -> bool:
        """Whether every node already holds the plugin's image (kind's offline node image does)."""
        return False

    def start_gpu_plugin(self, core: client.CoreV1Api, opts: UpOptions) -> float:
        """Run the fake GPU plugin on every worker and wait until each offers its GPUs.

        Returns the seconds waited. Raises :class:`~stslab.cluster.gpu_plugin.GpusNotReadyError`
        (cause and fix) when the plugin cannot serve; the cluster stays usable without GPUs.
        """
        if not self.plugin_image_on_nodes():
            for cmd in self.plugin_image_commands():
                run(
                    cmd,
                    timeout=900,
                    what=" ".join(cmd[:2]),
                    error=gpu_plugin.GpusNotReadyError,
                    fix=gpu_plugin.IMAGE_FIX,
                )
        gpu_plugin.apply_daemonset(core.api_client, gpu_plugin.daemonset(opts.gpus_per_node))
        return gpu_plugin.wait_for_plugin(core, gpu_plugin.workers(core), opts.gpus_per_node)

    def gpu_state(self, core: client.CoreV1Api, rec: ClusterRecord) -> str:
        """One line: whether every worker outside a lab's pool offers its GPUs from the plugin."""
        if rec.gpus_per_node < 1:
            return "none (started with --gpus-per-node 0)"
        left = gpu_plugin.problems(core, gpu_plugin.workers(core), rec.gpus_per_node)
        if not left:
            return f"{rec.gpus_per_node} per worker, from the fake device plugin"
        return f"not ready: {next(iter(left.values()))}"
