"""What every backend provides, and the record a running lab cluster leaves in the state dir."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from stslab.core.errors import ClusterStateError, UsageError
from stslab.core.files import make_private, write_atomic
from stslab.core.paths import state_dir
from stslab.core.versions import release

MAX_NODES = 100
MAX_GPUS_PER_NODE = 64


@dataclass
class UpOptions:
    """Options of ``stslab up``; every backend validates what it uses."""

    nodes: int = 3
    gpus_per_node: int = 8
    api_port: int | None = None
    dns_port: int | None = None
    ready_delay_ms: int | None = None
    context: str | None = None
    namespace: str | None = None
    real_node: bool = False  # kwok: also join a real kubelet (stslab.cluster.kwok.realnode)
    node_image: str | None = None  # kind: "offline" (stslab.cluster.images.kindnode) or a reference
    tuned: bool = True  # kwok: False runs kwokctl's default limits (benchmarks compare)
    kubernetes: str | None = None  # kwok: a release other than the pinned one ("1.35")

    def validate(self) -> None:
        """Raise :class:`UsageError` for out-of-range values."""
        if not 1 <= self.nodes <= MAX_NODES:
            raise UsageError(
                f"--nodes {self.nodes} is out of range", f"use 1 to {MAX_NODES} worker nodes"
            )
        if not 0 <= self.gpus_per_node <= MAX_GPUS_PER_NODE:
            raise UsageError(
                f"--gpus-per-node {self.gpus_per_node} is out of range",
                f"use 0 to {MAX_GPUS_PER_NODE}",
            )
        for flag, port in (("--port", self.api_port), ("--dns-port", self.dns_port)):
            if port is not None and not 1024 <= port <= 65535:
                raise UsageError(f"{flag} {port} is not a usable port", "use 1024 to 65535")
        release(self.kubernetes)  # an unknown release says which ones there are
        if self.ready_delay_ms is not None and not 0 <= self.ready_delay_ms <= 600_000:
            raise UsageError(
                f"--ready-delay-ms {self.ready_delay_ms} is out of range", "use 0 to 600000"
            )


@dataclass
class Check:
    """One line of ``stslab doctor``: what was checked, whether it is fine, and the fix."""

    what: str
    ok: bool
    detail: str = ""
    fix: str = ""


class RecordExtra(TypedDict, total=False):
    """What a backend keeps about its cluster beyond the common fields (all optional)."""

    # kwok: the ports stslab chose (every component's, and the user's two), its volumes'
    # directory, the uid that proves an apiserver serves this cluster's data, and its state.
    api_port: int
    dns_port: int
    dns_ready_port: int
    ports: dict[str, int]
    volumes: str
    identity: str
    stopped: bool
    real_node: str
    kubernetes: str  # the release it runs (`stslab up --kubernetes`), e.g. "v1.35.4"
    # existing: whether `up` made the namespace (and `down` may delete it).
    namespace_created: bool
    # kind: each node container's address when the cluster was made.
    node_addresses: dict[str, str]
    # kind/k3d: seconds `up` waited for the fake GPU plugin to offer every worker's GPUs.
    gpu_plugin_seconds: float


@dataclass
class ClusterRecord:
    """What ``stslab up`` wrote down about a lab cluster (``<state>/<backend>/cluster.json``)."""

    backend: str
    kubeconfig: str
    context: str
    namespace: str = "default"
    nodes: int = 0
    gpus_per_node: int = 0
    extra: RecordExtra = field(default_factory=lambda: RecordExtra())

    def save(self, path: Path) -> None:
        """Write the record atomically."""
        write_atomic(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ClusterRecord:
        """Read a record, raising :class:`ClusterStateError` when it is corrupt."""
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise ClusterStateError(
                f"the lab state in {path.parent} is corrupt ({e.__class__.__name__})",
                f"run `stslab down --backend {path.parent.name}` to clean it up, then `stslab up`",
            ) from e


@dataclass
class Status:
    """What ``stslab status`` reports."""

    backend: str
    state: str  # "running", "stopped", "broken", "absent"
    detail: str = ""
    nodes: list[dict[str, Any]] = field(default_factory=list)
    kubeconfig: str = ""
    gpus: str = ""  # where the workers' GPUs come from, or why they are not offered yet
    kubernetes: str = ""  # the release the server says it runs (its /version)


class Backend(ABC):
    """A way to bring a lab cluster up and down, and what the labs may ask of it.

    Lab code asks the backend (``backend.runs_containers``, ``backend.local_volume_dir(rec)``)
    instead of testing its name, so a new backend says once what it can do.
    """

    name: str = ""
    # `stslab up --kubernetes` picks the release it runs.
    chooses_release: bool = False
    # Containers really run: exec, logs and data written by a process inside a pod.
    runs_containers: bool = True
    # A lab may add and remove machines (simulated nodes).
    can_add_nodes: bool = False
    # Someone else's cluster, used inside one namespace (progress goes to the cluster too).
    shared: bool = False
    # The default StorageClass can bind a claim at once (volumeBindingMode Immediate).
    immediate_binding: bool = False
    # A lab may switch a node's machine off and on again (a real node failure).
    can_power_nodes: bool = False
    # `stslab up --real-node`: a real kubelet can join beside the simulated nodes.
    can_join_real_node: bool = False
    # `stslab up --node-image`: its nodes run from a node image stslab can build offline.
    takes_node_image: bool = False
    # Every machine can run it, so `stslab doctor` fails when it is not ready.
    essential: bool = False

    def sensed(self, api: Any) -> Backend:
        """Return the backend as the cluster behind ``api`` shows it (the existing one looks)."""
        return self

    def power_node(self, rec: ClusterRecord, node: str, on: bool) -> None:
        """Switch the machine of ``node`` off (``on`` False) or on again."""
        raise UsageError(f"the {self.name} backend cannot switch machines off", "use kind")

    def local_volume_dir(self, rec: ClusterRecord) -> Path | None:
        """The directory on *this* machine that is the cluster's ``/tmp`` for hostPath volumes."""
        return None

    def dns_server(self, rec: ClusterRecord) -> tuple[str, int] | None:
        """Where this machine can ask the cluster's DNS directly, or None (ask from a pod)."""
        return None

    def require_release_choice(self, kubernetes: str | None) -> None:
        """Refuse ``--kubernetes`` where the backend cannot choose its release (all but kwok)."""
        if kubernetes and not self.chooses_release:
            raise UsageError(
                f"--kubernetes works only with the simulated backend, not {self.name}",
                f"use `stslab up --backend kwok --kubernetes {kubernetes}` "
                f"({self.name} runs the release of its nodes or its cluster)",
            )

    def __init__(self, state: Path | None = None) -> None:
        # Fixed at construction, so a backend object always acts on the same directory.
        self.dir = (state or state_dir()) / self.name

    @property
    def record_path(self) -> Path:
        """Where the cluster record lives."""
        return self.dir / "cluster.json"

    @property
    def kubeconfig_path(self) -> Path:
        """The kubeconfig the labs use: always in the state dir, never ``~/.kube/config``."""
        return self.dir / "kubeconfig"

    @contextmanager
    def exclusive(self, action: str) -> Iterator[None]:
        """Hold this cluster's lock for ``action`` (up, stop, down), or refuse in one line.

        Two commands changing one cluster at once (a second ``stslab up`` while the first is
        still starting) would start its components twice. The lock is a file beside the
        state directory, so ``down`` can remove the directory while holding it.
        """
        lock = self.dir.parent / f".{self.name}.lock"
        made_parent = not lock.parent.exists()
        make_private(lock.parent)  # the state directory: the instructor's alone
        with open(lock, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another stslab command"
                raise ClusterStateError(
                    f"the {self.name} lab cluster is busy: {holder} is still running",
                    f"wait until it ends, then run `stslab {action}` again",
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"`stslab {action}` (pid {os.getpid()})\n")
            f.flush()
            try:
                yield
            finally:
                f.truncate(0)
                if not self.dir.exists():  # refused or taken down: leave no trace of the lock
                    lock.unlink(missing_ok=True)  # still held, so no one else holds this one
                    if made_parent and not any(lock.parent.iterdir()):
                        lock.parent.rmdir()
                fcntl.flock(f, fcntl.LOCK_UN)

    def record(self) -> ClusterRecord | None:
        """The record of the running cluster, or None."""
        return ClusterRecord.load(self.record_path) if self.record_path.exists() else None

    def exists(self) -> bool:
        """True when this backend has any state (a cluster up, stopped or half made)."""
        return self.dir.exists() and any(self.dir.iterdir())

    def clear_state(self) -> None:
        """Remove this backend's state directory (lab-owned, under the state dir)."""
        if self.dir.exists():
            shutil.rmtree(self.dir)

    def require_absent(self) -> None:
        """Refuse ``up`` when a cluster (or the remains of one) is already there."""
        if self.exists():
            raise ClusterStateError(
                f"a {self.name} lab cluster already exists in {self.dir}",
                f"use it (`stslab status --backend {self.name}`) or remove it first with "
                f"`stslab down --backend {self.name}`",
            )

    @abstractmethod
    def checks(self) -> list[Check]:
        """What this backend needs, present or missing (for ``doctor`` and ``auto``)."""

    def optional_checks(self) -> list[Check]:
        """What optional features need (``doctor`` lists them; ``usable`` ignores them)."""
        return []

    def usable(self) -> tuple[bool, str]:
        """Whether every check passes, and the first failure if not."""
        for c in self.checks():
            if not c.ok:
                return False, f"{c.what}: {c.detail}"
        return True, "all requirements present"

    @abstractmethod
    def up(self, opts: UpOptions) -> ClusterRecord:
        """Bring the cluster up (or restart a stopped one) and wait until it is usable."""

    @abstractmethod
    def down(self) -> None:
        """Tear the cluster down and remove its state; nothing of it is left behind."""

    @abstractmethod
    def status(self) -> Status:
        """Report the cluster's state."""

    def stop(self) -> None:
        """Stop the cluster but keep its data (backends that can)."""
        raise UsageError(
            f"the {self.name} backend cannot be stopped and restarted",
            f"use `stslab down --backend {self.name}`",
        )
