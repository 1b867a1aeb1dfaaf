"""Backends and how ``auto`` chooses one."""

from __future__ import annotations

import os

from stslab.cluster.base import Backend, Check, ClusterRecord, Status, UpOptions
from stslab.cluster.containers import K3dBackend, KindBackend
from stslab.cluster.existing import ExistingBackend
from stslab.cluster.kwok import KwokBackend
from stslab.core.errors import ClusterStateError, UsageError

BACKENDS: dict[str, type[Backend]] = {
    "kwok": KwokBackend,
    "kind": KindBackend,
    "k3d": K3dBackend,
    "existing": ExistingBackend,
}
CHOICES = ("auto", *BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (not ``auto``)."""
    try:
        return BACKENDS[name]()
    except KeyError:
        raise UsageError(
            f"unknown backend {name!r}", f"choose one of: {', '.join(CHOICES)}"
        ) from None


def choose_auto() -> tuple[Backend, str]:
    """Kind if Docker and kind are usable, else k3d, else kwok; with the reason."""
    reasons = []
    for name in ("kind", "k3d"):
        backend = get_backend(name)
        ok, why = backend.usable()
        if ok:
            return backend, f"{name}: Docker and {name} are usable"
        reasons.append(f"{name}: {why}")
    return get_backend("kwok"), "kwok (simulated), because " + "; ".join(reasons)


def resolve(name: str | None, *, for_up: bool) -> tuple[Backend, str]:
    """Pick the backend a command acts on.

    ``--backend`` wins, then ``STSLAB_BACKEND``. Otherwise ``up`` chooses automatically, and the
    other commands act on the one lab cluster that exists (and ask for ``--backend`` if several do).
    """
    name = name or os.environ.get("STSLAB_BACKEND") or "auto"
    if name != "auto":
        return get_backend(name), f"{name} (chosen with --backend or STSLAB_BACKEND)"
    if for_up:
        return choose_auto()
    present = [b for b in (cls() for cls in BACKENDS.values()) if b.exists()]
    if len(present) == 1:
        return present[0], f"{present[0].name} (the only lab cluster)"
    if not present:
        raise ClusterStateError("there is no lab cluster", "start one with `stslab up`")
    names = ", ".join(b.name for b in present)
    raise UsageError(f"several lab clusters exist ({names})", "say which with --backend NAME")


__all__ = [
    "BACKENDS",
    "CHOICES",
    "Backend",
    "Check",
    "ClusterRecord",
    "Status",
    "UpOptions",
    "get_backend",
    "choose_auto",
    "resolve",
    "ClusterStateError",
]
