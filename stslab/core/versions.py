"""Pinned versions, read from ``clusters/versions.env`` (the one place they are set)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from stslab.core.errors import UsageError
from stslab.core.paths import project_root


@dataclass(frozen=True)
class Versions:
    """Every pinned component version."""

    kubernetes: str
    etcd: str
    kwok: str
    coredns: str
    kind: str
    k3d: str
    kind_node_image: str
    local_path: str
    k3s_image: str
    releases: tuple[str, ...]  # what `stslab up --kubernetes` can build, the pinned one among them
    proxy: str  # configurable-http-proxy, from npm: the served room's (stslab workshop serve)

    @property
    def kubernetes_minor(self) -> str:
        """``1.36`` for ``v1.36.3``."""
        return ".".join(self.kubernetes.lstrip("v").split(".")[:2])


def parse_env(text: str) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines, ignoring blanks and ``#`` comments."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@cache
def pinned() -> Versions:
    """Return the pinned versions."""
    env = parse_env((project_root() / "clusters" / "versions.env").read_text())
    return Versions(
        kubernetes=env["KUBERNETES_VERSION"],
        etcd=env["ETCD_VERSION"],
        kwok=env["KWOK_VERSION"],
        coredns=env["COREDNS_VERSION"],
        kind=env["KIND_VERSION"],
        k3d=env["K3D_VERSION"],
        kind_node_image=env["KIND_NODE_IMAGE"],
        local_path=env["LOCAL_PATH_PROVISIONER_VERSION"],
        k3s_image=env["K3S_IMAGE"],
        releases=tuple(env["KUBERNETES_RELEASES"].strip('"').split()),
        proxy=env["CONFIGURABLE_HTTP_PROXY_VERSION"],
    )


def minor(version: str) -> str:
    """``1.35`` for ``v1.35.4``."""
    return ".".join(version.lstrip("v").split(".")[:2])


def release(wanted: str | None) -> str:
    """The Kubernetes version a simulated cluster runs for ``--kubernetes`` (a minor, ``1.35``).

    ``None`` is the pinned release. A release the kit cannot build raises :class:`UsageError`
    naming those it can.
    """
    v = pinned()
    if wanted is None:
        return v.kubernetes
    for r in v.releases:
        if re.fullmatch(r"v?\d+\.\d+", wanted) and minor(wanted) == minor(r):
            return r
        if wanted.lstrip("v") == r.lstrip("v"):  # the exact patch version also names it
            return r
    names = ", ".join(minor(r) + (" (pinned)" if r == v.kubernetes else "") for r in v.releases)
    raise UsageError(
        f"--kubernetes {wanted}: stslab cannot run that release",
        f"choose one of {names}, the releases whose k8s.io/kubernetes the Go module proxy serves",
    )
