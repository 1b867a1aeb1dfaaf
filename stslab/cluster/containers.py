"""The kind and k3d backends: real containers on a local Docker engine.

Both keep the kubeconfig in the state dir and label workers with zones as the simulated backend
does. Their GPUs come only from the fake device plugin, which ``up`` runs on every worker and
waits for (:mod:`~stslab.cluster.container_gpus`): nothing writes GPUs into a real node's status.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from stslab.cluster import gpu_plugin
from stslab.cluster import nodes as labnodes
from stslab.cluster.base import Backend, Check, ClusterRecord, RecordExtra, Status, UpOptions
from stslab.cluster.container_gpus import GpuPluginMixin
from stslab.cluster.images import kindnode
from stslab.core.errors import ClusterStateError, StslabError, ToolMissingError, UsageError
from stslab.core.kube import api_client, server_version, wait_until
from stslab.core.labels import MANAGED_LABEL, ZONE_LABEL
from stslab.core.paths import project_root
from stslab.core.procs import run, which
from stslab.core.versions import pinned
from stslab.gpu.config import plugin_image

CLUSTER = "stslab"
DOCKER_FIX = "start the Docker engine (e.g. `sudo systemctl start docker`) and check `docker info`"


def docker_usable() -> tuple[bool, str]:
    """Whether a Docker engine answers, and why not."""
    if shutil.which("docker") is None:
        return False, "the docker CLI is not installed"
    try:
        info = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=10, check=False)
    except StslabError:
        return False, "the Docker engine did not answer within 10s"
    if not info.ok:
        return False, "no Docker engine is running (or no permission to use it)"
    return True, f"Docker engine {info.stdout.strip()}"


def lab_images() -> list[str]:
    """Images the labs use on real-container backends (clusters/images.txt)."""
    lines = (project_root() / "clusters/images.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


class _ContainerBackend(GpuPluginMixin, Backend):
    tool = ""
    install_fix = ""

    def checks(self) -> list[Check]:
        ok, why = docker_usable()
        out = [
            Check(
                "Docker engine",
                ok,
                why,
                "" if ok else "install Docker and start it (e.g. `sudo systemctl start docker`)",
            )
        ]
        try:
            path = which(self.tool, self.install_fix)
            out.append(Check(self.tool, True, path))
        except ToolMissingError as e:
            out.append(Check(self.tool, False, e.cause, e.fix))
        return out

    def _require_tools(self) -> None:
        for c in self.checks():
            if not c.ok:
                raise ToolMissingError(f"the {self.name} backend needs {c.what}: {c.detail}", c.fix)

    def create_command(self, opts: UpOptions, config: Path) -> list[str]:
        raise NotImplementedError

    def delete_command(self) -> list[str]:
        raise NotImplementedError

    def render_config(self, opts: UpOptions) -> dict[str, Any]:
        raise NotImplementedError

    def before_create(self, opts: UpOptions) -> None:
        """Anything to make ready before the create command runs (e.g. a node image)."""

    def create(self, command: list[str]) -> None:
        """Run the tool's create command."""
        run(command, timeout=600, what=f"{self.tool} create")

    def up(self, opts: UpOptions) -> ClusterRecord:
        """Create the cluster with the tool, label nodes, and run the fake GPU plugin."""
        opts.validate()
        self.require_absent()
        self._require_tools()
        self.before_create(opts)
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "config.yaml"
        config.write_text(yaml.safe_dump(self.render_config(opts), sort_keys=False))
        try:
            self.create(self.create_command(opts, config))
            self.write_kubeconfig()
            core = client.CoreV1Api(api_client(self.kubeconfig_path))
            # kind waits for the control plane only; labs need every worker.
            wait_until(
                lambda: all(n["ready"] for n in labnodes.node_summary(core)) or None,
                timeout=300,
                what="every node Ready",
                interval=1,
            )
            self.wait_for_dns()
            extra = RecordExtra(node_addresses=self.node_addresses())
            if opts.gpus_per_node:
                try:
                    extra["gpu_plugin_seconds"] = round(self.start_gpu_plugin(core, opts), 1)
                except gpu_plugin.GpusNotReadyError as e:  # the labs but 06 need no GPUs
                    print(f"GPUs not ready: {e}")
            rec = ClusterRecord(
                self.name,
                str(self.kubeconfig_path),
                self.context,
                nodes=opts.nodes,
                gpus_per_node=opts.gpus_per_node,
                extra=extra,
            )
            rec.save(self.record_path)
            return rec
        except BaseException:
            self.down()
            raise

    def wait_for_dns(self) -> None:
        """Wait until the cluster's DNS answers (the labs' first steps look names up)."""

    @property
    def context(self) -> str:
        return f"{self.name}-{CLUSTER}"

    def write_kubeconfig(self) -> None:
        """Make sure the kubeconfig sits in the state dir (kind writes it there itself)."""

    def down(self) -> None:
        """Delete the cluster's containers and the state dir."""
        if not self.exists():
            raise ClusterStateError(
                f"there is no {self.name} lab cluster to take down",
                "nothing to do; `stslab up` starts one",
            )
        try:
            run(self.delete_command(), timeout=300, what=f"{self.tool} delete")
        finally:
            self.clear_state()

    def status(self) -> Status:
        """Running (with nodes) or absent."""
        rec = self.record()
        if rec is None:
            return Status(self.name, "absent", f"no {self.name} lab cluster")
        try:
            core = client.CoreV1Api(api_client(rec.kubeconfig))
            nodes = labnodes.node_summary(core)
            gpus = self.gpu_state(core, rec)
            return Status(
                self.name,
                "running",
                "",
                nodes,
                rec.kubeconfig,
                gpus=gpus,
                kubernetes=server_version(core.api_client),
            )
        except Exception as e:  # noqa: BLE001
            return Status(
                self.name, "broken", self.why_not_answering(e, rec), kubeconfig=rec.kubeconfig
            )

    def why_not_answering(self, e: BaseException, rec: ClusterRecord) -> str:
        """Why the cluster's API does not answer, and what to do.

        The fix that loses data (a new cluster) is offered only where waiting or starting
        Docker cannot help.
        """
        rebuild = (
            f"`stslab down --backend {self.name}` then `stslab up --backend {self.name}` make a "
            "new one (the labs' data goes with the old one)"
        )
        ok, why = docker_usable()
        if not ok:
            return (
                f"the Docker engine is not answering ({why}): start it (e.g. `sudo systemctl "
                "start docker`), then `stslab status` again; Docker restarts the node containers"
            )
        try:
            states = self.node_states()
            addresses = self.node_addresses(list(states))
        except StslabError as err:
            return f"{err.cause}: {err.fix}"
        if not states:
            return f"its node containers are gone (`docker ps -a` lists none): {rebuild}"
        stopped = sorted(n for n, state in states.items() if state != "running")
        if stopped:
            return (
                f"its node containers are stopped ({', '.join(stopped)}): `docker start "
                f"{' '.join(stopped)}`, then `stslab status` again"
            )
        before = rec.extra.get("node_addresses") or {}
        moved = [f"{n} {before[n]} → {a}" for n, a in addresses.items() if before.get(n, a) != a]
        if moved:
            # kind writes each node's address into its certificates and kubelet configuration
            # when it creates the cluster; nothing follows a container given a new one.
            return (
                f"its node containers came back from a Docker restart with new addresses "
                f"({', '.join(moved)}), which a kind cluster cannot follow: {rebuild}"
            )
        return (
            f"its node containers run but the API server does not answer "
            f"({e.__class__.__name__}): it may still be starting; wait a minute and run "
            f"`stslab status` again; if it stays so, {rebuild}"
        )

    def node_states(self) -> dict[str, str]:
        """Each node container's Docker state (running, exited, ...); only kind knows them."""
        return {}

    def node_addresses(self, names: list[str] | None = None) -> dict[str, str]:
        """Each node container's address on its network; only kind knows them."""
        return {}


class KindBackend(_ContainerBackend):
    """kind: Kubernetes nodes as Docker containers."""

    name = "kind"
    takes_node_image = True
    tool = "kind"

    @property
    def install_fix(self) -> str:  # type: ignore[override]
        """How to get the pinned kind (a property: nothing is read at import time)."""
        return f"install kind {pinned().kind}: `make binaries kindnode` builds it into the cache"

    @property
    def kind(self) -> str:
        """The kind CLI: on PATH, else the one `make binaries kindnode` built."""
        found = shutil.which("kind")
        if found:
            return found
        built = kindnode.kind_binary_path()
        return str(built) if built.is_file() else "kind"

    can_power_nodes = True

    def power_node(self, rec: ClusterRecord, node: str, on: bool) -> None:
        """``docker stop`` or ``docker start`` the node's container (a machine failing)."""
        nodes = self.node_containers()
        if node not in nodes:
            raise UsageError(
                f"{node} is not a node container of the kind cluster {CLUSTER}",
                f"use one of: {', '.join(nodes) or '(none: is the cluster up?)'}",
            )
        args = ["start", node] if on else ["stop", "--time", "5", node]
        what, fix = f"docker {args[0]} {node}", "check that the Docker engine runs (`docker info`)"
        run(["docker", *args], timeout=120, what=what, error=UsageError, fix=fix)

    def node_containers(self) -> list[str]:
        """The names of the kind cluster's node containers (``docker ps -a``)."""
        return list(self.node_states())

    def node_states(self) -> dict[str, str]:
        """Each node container's Docker state: running, exited, ... (``docker ps -a``)."""
        out = self._docker("ps", "-a", "--filter", self._label, "--format", "{{.Names}} {{.State}}")
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    def node_addresses(self, names: list[str] | None = None) -> dict[str, str]:
        """Each node container's address on kind's network (``docker inspect``).

        ``names``: the node containers, when the caller has just listed them.
        """
        names = self.node_containers() if names is None else names
        if not names:
            return {}
        fmt = "{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        out = self._docker("inspect", "--format", fmt, *names)
        return {
            parts[0].lstrip("/"): parts[1]
            for parts in (line.split() for line in out.splitlines())
            if len(parts) > 1
        }

    _label = f"label=io.x-k8s.kind.cluster={CLUSTER}"

    def _docker(self, *args: str) -> str:
        """A docker command's output; a Docker engine that does not answer is one line."""
        cmd = ["docker", *args]
        return run(
            cmd, timeout=60, what=f"docker {args[0]}", error=ClusterStateError, fix=DOCKER_FIX
        )

    def checks(self) -> list[Check]:
        """Docker, and kind on PATH or in the stslab cache."""
        out = super().checks()
        if not out[-1].ok and Path(self.kind).is_file():
            out[-1] = Check("kind", True, self.kind)
        return out

    def wait_for_dns(self) -> None:
        """Wait for kubeadm's CoreDNS Deployment to have a ready replica."""
        apps = client.AppsV1Api(api_client(self.kubeconfig_path))
        wait_until(
            lambda: (
                (
                    apps.read_namespaced_deployment("coredns", "kube-system").status.ready_replicas
                    or 0
                )
                > 0
                or None
            ),
            timeout=300,
            what="CoreDNS ready",
            interval=1,
        )

    def node_image(self, opts: UpOptions) -> str:
        """The node image ``--node-image`` asks for (default: the pinned kindest/node)."""
        if opts.node_image == "offline":
            return kindnode.image_ref()
        return opts.node_image or pinned().kind_node_image

    def before_create(self, opts: UpOptions) -> None:
        """Refuse a kind cluster of our name made elsewhere; build the offline image if asked."""
        clusters = run([self.kind, "get", "clusters"], what="kind get clusters", timeout=60).split()
        if CLUSTER in clusters:
            raise ClusterStateError(
                f"a kind cluster named {CLUSTER!r} already exists, made outside this state dir",
                f"remove it with `kind delete cluster --name {CLUSTER}` if it is a lab "
                "cluster you no longer need, then re-run",
            )
        if not opts.node_image and not kindnode.image_exists(pinned().kind_node_image):
            if kindnode.image_exists(kindnode.image_ref()):
                # No registry may answer (an offline machine): the offline image needs none.
                print(f"using the offline node image {kindnode.image_ref()} (`stslab kind-image`)")
                opts.node_image = "offline"
        image = self.node_image(opts)
        if opts.node_image == "offline":
            kindnode.build()
        if kindnode.image_exists(image):
            kindnode.check_image(image)

    def create(self, command: list[str]) -> None:
        """``kind create cluster``; a node image no registry serves is one line with the fix."""
        try:
            super().create(command)
        except StslabError as e:
            if not any(w in e.cause for w in ("failed to pull image", "docker pull")):
                raise
            raise ClusterStateError(
                f"kind could not pull its node image {command[command.index('--image') + 1]} "
                "(no registry reachable?)",
                "build one offline with `stslab kind-image`, then `stslab up --node-image "
                "offline`; or `stslab up --backend kwok` (no Docker needed)",
            ) from None

    def plugin_image_on_nodes(self) -> bool:
        """Whether every node container's containerd holds the plugin's image (``ctr``)."""
        nodes = self.node_containers()
        ref = f"docker.io/{plugin_image()}"
        try:
            held = [
                self._docker("exec", n, "ctr", "-n", "k8s.io", "images", "ls", "-q") for n in nodes
            ]
        except ClusterStateError:
            return False
        return bool(nodes) and all(ref in out.split() for out in held)

    def render_config(self, opts: UpOptions) -> dict[str, Any]:
        """clusters/kind/kind.yaml with ``opts.nodes`` workers, zones round-robin.

        With the offline node image, kubeadm is also told to run our etcd and CoreDNS tags.
        """
        base = yaml.safe_load((project_root() / "clusters/kind/kind.yaml").read_text())
        cp = [n for n in base["nodes"] if n["role"] == "control-plane"]
        template = next(n for n in base["nodes"] if n["role"] == "worker")
        workers = []
        for i in range(opts.nodes):
            w = copy.deepcopy(template)
            w["labels"][ZONE_LABEL] = labnodes.ZONES[i % len(labnodes.ZONES)]
            workers.append(w)
        cfg = dict(base) | {"nodes": cp + workers}
        if opts.node_image == "offline":
            cfg["kubeadmConfigPatches"] = [
                *cfg.get("kubeadmConfigPatches", []),
                *kindnode.kubeadm_patches(),
            ]
        return cfg

    def create_command(self, opts: UpOptions, config: Path) -> list[str]:
        """``kind create cluster`` with the pinned node image and our kubeconfig path."""
        return [
            self.kind,
            "create",
            "cluster",
            "--name",
            CLUSTER,
            "--config",
            str(config),
            "--image",
            self.node_image(opts),
            "--kubeconfig",
            str(self.kubeconfig_path),
            "--wait",
            "120s",
        ]

    def delete_command(self) -> list[str]:
        """``kind delete cluster`` touching only our kubeconfig."""
        return [
            self.kind,
            "delete",
            "cluster",
            "--name",
            CLUSTER,
            "--kubeconfig",
            str(self.kubeconfig_path),
        ]

    def preload_commands(self, images: list[str] | None = None) -> list[list[str]]:
        """``docker pull`` then ``kind load docker-image`` for each image."""
        imgs = images or lab_images()
        return [["docker", "pull", i] for i in imgs] + [
            ["kind", "load", "docker-image", "--name", CLUSTER, *imgs]
        ]


class K3dBackend(_ContainerBackend):
    """k3d: k3s nodes as Docker containers."""

    name = "k3d"
    tool = "k3d"
    install_fix = "install k3d (https://k3d.io) and re-run"

    def render_config(self, opts: UpOptions) -> dict[str, Any]:
        """clusters/k3d/k3d.yaml with ``opts.nodes`` agents, zones round-robin."""
        base = yaml.safe_load((project_root() / "clusters/k3d/k3d.yaml").read_text())
        labels = [
            {
                "label": f"{ZONE_LABEL}={labnodes.ZONES[i % len(labnodes.ZONES)]}",
                "nodeFilters": [f"agent:{i}"],
            }
            for i in range(opts.nodes)
        ]
        labels.append({"label": f"{MANAGED_LABEL}=true", "nodeFilters": ["agent:*"]})
        cfg = copy.deepcopy(base)
        cfg["agents"] = opts.nodes
        cfg["image"] = pinned().k3s_image
        cfg["options"]["k3s"]["nodeLabels"] = labels
        return dict(cfg)

    def create_command(self, opts: UpOptions, config: Path) -> list[str]:
        """``k3d cluster create`` from the rendered config."""
        return ["k3d", "cluster", "create", "--config", str(config), "--wait"]

    def delete_command(self) -> list[str]:
        """``k3d cluster delete``."""
        return ["k3d", "cluster", "delete", CLUSTER]

    def write_kubeconfig(self) -> None:
        """``k3d kubeconfig get`` into the state dir (k3d's default would merge into ~/.kube)."""
        text = run(["k3d", "kubeconfig", "get", CLUSTER], what="k3d kubeconfig get", timeout=60)
        self.kubeconfig_path.write_text(text)
        self.kubeconfig_path.chmod(0o600)

    def preload_commands(self, images: list[str] | None = None) -> list[list[str]]:
        """``docker pull`` then ``k3d image import`` for each image."""
        imgs = images or lab_images()
        return [["docker", "pull", i] for i in imgs] + [
            ["k3d", "image", "import", "--cluster", CLUSTER, *imgs]
        ]
