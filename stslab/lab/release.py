"""What the cluster's Kubernetes release does, asked of the server rather than assumed.

StatefulSet features move between releases: a gate on by default in one release is off in the
next, an API version is served only from some release on. A lab that depends on one asks the
server (a dry run, its served API groups) and says in one line what this cluster does and from
which release that changed; a feature the cluster lacks skips the lab's step with that line.

``DEFAULTS`` is what each release ships (read from its binaries' ``--help``; a test compares it
with every release built into the cache): a cluster may differ, as stslab's own switch
``MaxUnavailableStatefulSet`` on (``clusters/kwok/kwokctl.yaml``, ``clusters/kind/kind.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.kube import server_version
from stslab.core.versions import minor
from stslab.lab import dra

# What a step skipped for want of a feature says (``stslab labs matrix`` counts it).
SKIPPED = "skipped on this release"

# Feature gate -> {minor release: on by default}, for the releases stslab can run.
DEFAULTS: dict[str, dict[str, bool]] = {
    "MaxUnavailableStatefulSet": {"1.34": False, "1.35": False, "1.36": False, "1.37": True},
}


@dataclass(frozen=True)
class Feature:
    """A feature a lab depends on whose state differs between releases."""

    key: str
    what: str  # what the lab uses, as the learner would name it
    labs: tuple[str, ...]
    history: str  # from which release it changed
    probe: Callable[[client.ApiClient, str], bool | None]  # None: the server would not say


def keeps_max_unavailable(api: client.ApiClient, namespace: str) -> bool | None:
    """Whether the server keeps a StatefulSet's ``rollingUpdate.maxUnavailable`` (a dry run).

    Without the gate the API server drops the field from what it stores; nothing is created.
    """
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "stslab-release-probe"},
        "spec": {
            "serviceName": "stslab-release-probe",
            "selector": {"matchLabels": {"app": "stslab-release-probe"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
            "template": {
                "metadata": {"labels": {"app": "stslab-release-probe"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }
    try:
        made = client.AppsV1Api(api).create_namespaced_stateful_set(namespace, body, dry_run="All")
    except ApiException:
        return None
    rolling = made.spec.update_strategy.rolling_update
    return rolling is not None and rolling.max_unavailable is not None


def _dra(api: client.ApiClient, namespace: str) -> bool | None:
    del namespace  # API groups are the cluster's
    return dra.served(api)


FEATURES: tuple[Feature, ...] = (
    Feature(
        "MaxUnavailableStatefulSet",
        "`rollingUpdate.maxUnavailable` on a StatefulSet",
        ("07",),
        "alpha through 1.34, beta from 1.35 but off by default through 1.36, on by default "
        "from 1.37",
        keeps_max_unavailable,
    ),
    Feature(
        "resource.k8s.io/v1",
        "Dynamic Resource Allocation (`ResourceClaim`s for GPUs)",
        ("06",),
        "served as v1 (GA) from 1.34; earlier releases serve beta versions only",
        _dra,
    ),
)


def feature(key: str) -> Feature:
    """The feature called ``key`` (a gate or an API group/version)."""
    return next(f for f in FEATURES if f.key == key)


def line(api: client.ApiClient, namespace: str, key: str) -> tuple[bool | None, str]:
    """Whether this cluster has feature ``key``, and one line saying so and since when."""
    runs = server_version(api) or "(release unknown)"
    on, said = _state(api, namespace, feature(key), runs)
    return on, f"Kubernetes {runs}: {said}"


def _state(api: client.ApiClient, namespace: str, f: Feature, runs: str) -> tuple[bool | None, str]:
    on = f.probe(api, namespace)
    default = DEFAULTS.get(f.key, {}).get(minor(runs)) if runs.startswith("v") else None
    if on is None:
        state = "could not be asked (your account may not create a dry-run object here)"
    else:
        state = "on" if on else f"OFF: the lab's steps that need it are {SKIPPED}"
    if on is not None and default is not None and on != default:
        state += f" (Kubernetes {minor(runs)} ships it {'on' if default else 'off'}: "
        state += "this cluster sets it)"
    return on, f"{f.what} is {state}. Since when: {f.history}."


def report(api: client.ApiClient, namespace: str) -> list[str]:
    """The server's release and a line per feature the labs depend on (labs named)."""
    runs = server_version(api)
    lines = [f"Kubernetes {runs or '(the server did not say its release)'}"]
    for f in FEATURES:
        lines.append(f"  lab {', '.join(f.labs)}: " + _state(api, namespace, f, runs)[1])
    return lines


__all__ = [
    "SKIPPED",
    "DEFAULTS",
    "FEATURES",
    "Feature",
    "feature",
    "keeps_max_unavailable",
    "line",
    "report",
]
