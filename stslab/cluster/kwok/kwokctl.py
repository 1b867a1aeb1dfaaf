"""Kwokctl, as the backend drives it: the components it runs, its command lines, their pid files.

kwokctl creates, starts, stops and deletes the control plane (etcd, the apiserver, the
controller-manager, the scheduler, the kwok controller); each component it starts leaves a pid
file in ``<cluster>/pids/``. :class:`~.backend.KwokBackend` runs it through :func:`run_kwokctl`
and reads or drops those pid files here. What kwokctl is handed is :mod:`~.files`'.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stslab.cluster.kwok.processes import kwokctl_error
from stslab.core.errors import StslabError
from stslab.core.procs import pid_from_file, run

# The processes kwokctl starts, by the name of their pid file in <cluster>/pids/.
KWOKCTL_COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)


def run_kwokctl(kwokctl: Path, home: Path, cluster: str, *args: str, timeout: float) -> str:
    """Run ``kwokctl <args> --name <cluster>`` with ``home`` as its work dir; its output.

    A failure says what kwokctl itself said (its last error), not only its exit status.
    """
    env = {"KWOK_WORKDIR": str(home)}
    cmd = [str(kwokctl), *args, "--name", cluster]
    what = f"kwokctl {args[0]} {args[1]}"
    try:
        return run(cmd, env=env, timeout=timeout, what=what)
    except StslabError as e:
        said = kwokctl_error(e.cause)
        if said:
            raise StslabError(f"{what} failed: {said}", e.fix) from e
        raise


def create_args(
    binaries: dict[str, Path], configs: list[Path], controller_manager: Path
) -> list[str]:
    """The arguments of ``kwokctl create cluster``: our configs, binaries and confinement.

    ``controller_manager`` is the confined wrapper that stands in for the real binary; no
    kubeconfig outside the lab's state is touched (``--kubeconfig ""``).
    """
    args = ["create", "cluster"]
    for config in configs:
        args += ["--config", str(config)]
    return [
        *args,
        "--runtime",
        "binary",
        "--kube-apiserver-binary",
        str(binaries["kube-apiserver"]),
        "--kube-controller-manager-binary",
        str(controller_manager),
        "--kube-scheduler-binary",
        str(binaries["kube-scheduler"]),
        "--kwok-controller-binary",
        str(binaries["kwok"]),
        "--etcd-binary",
        str(binaries["etcd"]),
        "--kubeconfig",
        "",  # never touch ~/.kube/config
        "--wait",
        "2m",
    ]


def pid_file(cluster_dir: Path, component: str) -> Path:
    """Where kwokctl keeps the pid of ``component`` of the cluster in ``cluster_dir``."""
    return cluster_dir / "pids" / f"{component}.pid"


def component_pid(cluster_dir: Path, state_dir: Path, component: str) -> int | None:
    """The pid of a running ``component`` (None: not running), checked against its process.

    A damaged pid file of a live component is written again (see
    :func:`stslab.core.procs.pid_from_file`); ``state_dir`` is what its command line names.
    """
    return pid_from_file(component, pid_file(cluster_dir, component), str(state_dir))


def forget_pids(cluster_dir: Path, components: Iterable[str]) -> None:
    """Drop the pid files of ``components``, so that the next ``kwokctl start`` starts them.

    kwokctl skips a component whose pid file names a "running" process, and it counts zombies
    (which nothing may reap here) as running.
    """
    for component in components:
        pid_file(cluster_dir, component).unlink(missing_ok=True)
