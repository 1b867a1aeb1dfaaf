"""What stslab hands kwokctl for a simulated cluster: the binaries and the files it writes.

The binaries come from the versioned cache (``make binaries``); the stage file sets how
simulated pods and nodes behave (with the cluster's readiness delay); the controller-manager
runs through a wrapper that confines its ``/tmp`` to the lab's volumes, so the host-path
provisioner and deleter never touch the machine's own ``/tmp``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from stslab.cluster.base import Check
from stslab.core.errors import ToolMissingError
from stslab.core.paths import binary_dir, checkout, project_root
from stslab.core.procs import run
from stslab.core.versions import pinned


def build_fix() -> str:
    """How to build the simulated cluster's binaries, from a checkout or a wheel."""
    how = "`make binaries`" if checkout() else f"`bash {project_root()}/scripts/build-binaries.sh`"
    return f"run {how} (builds them from the Go module proxy into the cache; needs Go)"


def binaries(kubernetes: str | None = None) -> dict[str, Path]:
    """Paths of every binary a simulated cluster runs, in the versioned cache.

    ``kubernetes`` is the release of the control plane and kubectl (default: the pinned one).
    """
    v = pinned()
    k8s = binary_dir("kubernetes", kubernetes or v.kubernetes)
    kwok = binary_dir("kwok", v.kwok)
    return {
        "kube-apiserver": k8s / "kube-apiserver",
        "kube-controller-manager": k8s / "kube-controller-manager",
        "kube-scheduler": k8s / "kube-scheduler",
        "kubectl": k8s / "kubectl",
        "etcd": binary_dir("etcd", v.etcd) / "etcd",
        "kwok": kwok / "kwok",
        "kwokctl": kwok / "kwokctl",
        "coredns": binary_dir("coredns", v.coredns) / "coredns",
    }


def build_release(version: str) -> None:
    """Build one release's control plane into the cache (``stslab up --kubernetes``).

    The build script prints a line per binary; a failed build keeps nothing and names its log.
    """
    if shutil.which("go") is None:
        raise ToolMissingError(
            f"Kubernetes {version} is not built yet, and building it needs Go",
            "install Go >= 1.26 (https://go.dev/doc/install), or run the pinned release "
            "(leave out --kubernetes)",
        )
    script = project_root() / "scripts" / "build-binaries.sh"
    print(f"building Kubernetes {version} once (about 5 min on 2 cores; cached after that)")
    run(
        ["bash", str(script), "kubernetes"],
        env={"STSLAB_KUBERNETES": version},
        timeout=3600,
        stream=True,
        what=f"building Kubernetes {version} (k8s.io/kubernetes {version})",
        fix="the lines above name its log; nothing of it is kept, so a re-run starts afresh",
    )


def binary_checks(paths: dict[str, Path]) -> list[Check]:
    """Each binary built, and unshare (which confines the controller-manager)."""
    out = []
    for name, path in paths.items():
        ok = path.is_file() and os.access(path, os.X_OK)
        out.append(
            Check(
                f"{name} {path.parent.name.rsplit('-', 1)[-1]}",
                ok,
                str(path) if ok else "not built yet",
                "" if ok else build_fix(),
            )
        )
    has_unshare = shutil.which("unshare") is not None
    out.append(
        Check(
            "unshare (util-linux)",
            has_unshare,
            "" if has_unshare else "missing",
            "" if has_unshare else "install util-linux",
        )
    )
    return out


def write_stages(path: Path, ready_delay_ms: int | None) -> Path:
    """Write the pod/node stages to ``path``, with the cluster-wide readiness delay applied."""
    docs = list(yaml.safe_load_all((project_root() / "clusters/kwok/stages.yaml").read_text()))
    if ready_delay_ms is not None:
        for d in docs:
            if d["metadata"]["name"] == "pod-ready":
                d["spec"]["delay"]["durationMilliseconds"] = ready_delay_ms
                d["spec"]["delay"]["jitterDurationMilliseconds"] = (
                    ready_delay_ms + ready_delay_ms // 4
                )
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def write_confined_controller_manager(real: Path, home: Path, volumes: Path, bin_dir: Path) -> Path:
    """A wrapper in ``bin_dir``: kube-controller-manager with its /tmp mapped to ``volumes``."""
    confine = project_root() / "clusters/kwok/confine.sh"
    unshare = "unshare --mount --propagation private"
    if os.geteuid() != 0:  # an unprivileged user gets a user namespace to mount in
        unshare = "unshare --user --map-root-user --mount --propagation private"
    keep = f"{home}:{real.parent}"  # must stay visible should they lie under /tmp
    wrapper = bin_dir / "kube-controller-manager"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(
        "#!/bin/sh\n# Written by stslab: kube-controller-manager confined to the lab volumes.\n"
        f'exec {unshare} -- /bin/sh "{confine}" "{volumes}" "{keep}" "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper
