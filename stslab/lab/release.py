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
from typing import Any

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


def _kept(api: client.ApiClient, namespace: str, spec: dict[str, Any], read: str) -> bool | None:
    """Whether the server keeps a StatefulSet's ``spec`` fields: a dry run, nothing is made.

    A field the release does not serve (or whose gate is off) is dropped from what the server
    would store; ``read`` is its dotted path in the returned object (snake_case).
    """
    name = "stslab-release-probe"
    body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
            **spec,
        },
    }
    try:
        made = client.AppsV1Api(api).create_namespaced_stateful_set(namespace, body, dry_run="All")
    except ApiException:
        return None
    value: Any = made.spec
    for part in read.split("."):
        value = getattr(value, part, None)
    return value is not None


def keeps_max_unavailable(api: client.ApiClient, namespace: str) -> bool | None:
    """Whether the server keeps a StatefulSet's ``rollingUpdate.maxUnavailable``."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    return _kept(
        api,
        namespace,
        {"updateStrategy": strategy},
        "update_strategy.rolling_update.max_unavailable",
    )


def _ordinals(api: client.ApiClient, namespace: str) -> bool | None:
    return _kept(api, namespace, {"ordinals": {"start": 5}}, "ordinals.start")


def _retention(api: client.ApiClient, namespace: str) -> bool | None:
    policy = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    return _kept(
        api,
        namespace,
        {"persistentVolumeClaimRetentionPolicy": policy},
        "persistent_volume_claim_retention_policy.when_scaled",
    )


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
        "StatefulSetStartOrdinal",
        "`.spec.ordinals.start`",
        ("07",),
        "GA and always on from 1.31",
        _ordinals,
    ),
    Feature(
        "StatefulSetAutoDeletePVC",
        "`persistentVolumeClaimRetentionPolicy`",
        ("01", "04"),
        "GA and always on from 1.32",
        _retention,
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
