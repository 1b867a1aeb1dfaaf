"""``make bench`` part ``scale``: the simulated control plane at scale, ours against kwokctl's.

Every workload runs twice, each time on a new cluster of its own: first with kwokctl's default
limits, then with stslab's settings (the ``Tuning`` document in clusters/kwok/kwokctl.yaml),
one right after the other in the same run, so the ratio compares like with like on a noisy
machine. Simulated start-up and readiness delays are 0: this measures the control plane
(apiserver, etcd, controller-manager, scheduler, kwok), not the labs' pacing.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from stslab.cluster.base import UpOptions
from stslab.cluster.kwok import CONTEXT, KwokBackend
from stslab.cluster.kwok.capacity import PODS_PER_NODE
from stslab.cluster.nodes import kwok_node
from stslab.core.kube import api_client
from stslab.core.procs import free_port

LIMIT_S = 600.0  # a workload not done by then is reported so, with how far it got
NS = "bench"
PROFILES = (("kwokctl's defaults", False), ("stslab", True))


@dataclass
class Result:
    """One workload on one profile: seconds until done (None: not within LIMIT_S)."""

    seconds: float | None
    done: int
    total: int
    rss_mib: float = 0.0
    per_member: float | None = None  # OrderedReady workloads: seconds per member

    def text(self) -> str:
        if self.seconds is None:
            return f"not in {LIMIT_S:.0f} s ({self.done:,}/{self.total:,})"
        if self.per_member is not None:
            return f"{self.per_member:.2f} s/member"
        return f"{self.seconds:.1f} s ({self.total / self.seconds:.0f}/s)"


@dataclass
class Cluster:
    """A running benchmark cluster: its API and the pids of its control plane."""

    api: client.ApiClient
    pids: Callable[[], list[int]]
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)


@dataclass
class Workload:
    """What to run, on how many extra simulated nodes, against which target."""

    name: str
    nodes: int
    run: Callable[[Cluster], Result]
    target: str


def _template(labels: dict[str, str]) -> dict[str, Any]:
    """A pod that is Running and Ready as soon as kwok plays it, in one status write."""
    return {
        "metadata": {
            "labels": labels,
            "annotations": {"stslab.dev/instant": "true"},
        },
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
        },
    }


def _poll(count: Callable[[], int], total: int, start: float) -> tuple[float | None, int]:
    """Seconds from ``start`` until ``count()`` reaches ``total`` (None past LIMIT_S)."""
    done = 0
    while time.perf_counter() - start < LIMIT_S:
        done = count()
        if done >= total:
            return time.perf_counter() - start, done
        time.sleep(0.2)
    return None, done


def _make_nodes(c: Cluster, count: int, prefix: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: c.core.create_node(kwok_node(i, 0, name=f"{prefix}-{i}")), range(count)
            )
        )


def _ready_nodes(c: Cluster, prefix: str) -> int:
    # Raw JSON: deserializing a thousand V1Node models every poll would load the machine.
    resp = c.core.list_node(resource_version="0", _preload_content=False)
    items = json.loads(resp.data)["items"]
    return sum(
        1
        for n in items
        if n["metadata"]["name"].startswith(f"{prefix}-")
        and any(
            x["type"] == "Ready" and x["status"] == "True"
            for x in n.get("status", {}).get("conditions", [])
        )
    )


def nodes_ready(count: int) -> Callable[[Cluster], Result]:
    """``count`` simulated nodes created (8 at a time) until every one is Ready."""

    def run(c: Cluster) -> Result:
        start = time.perf_counter()
        _make_nodes(c, count, "scale")
        seconds, done = _poll(lambda: _ready_nodes(c, "scale"), count, start)
        return Result(seconds, done, count)

    return run


def deployment_ready(replicas: int) -> Callable[[Cluster], Result]:
    """A Deployment of ``replicas`` pods until all are Ready."""

    def run(c: Cluster) -> Result:
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pods"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "pods"}},
                "template": _template({"app": "pods"}),
            },
        }
        start = time.perf_counter()
        c.apps.create_namespaced_deployment(NS, body)

        def ready() -> int:
            s = c.apps.read_namespaced_deployment_status("pods", NS).status
            return s.ready_replicas or 0

        seconds, done = _poll(ready, replicas, start)
        return Result(seconds, done, replicas)

    return run


def statefulset_ready(
    replicas: int, policy: str, binding: str | None = None
) -> Callable[[Cluster], Result]:
    """A StatefulSet until all members are Ready; ``binding``: a 1Gi claim each, that mode."""

    def run(c: Cluster) -> Result:
        spec: dict[str, Any] = {
            "replicas": replicas,
            "podManagementPolicy": policy,
            "serviceName": "members",
            "selector": {"matchLabels": {"app": "members"}},
            "template": _template({"app": "members"}),
        }
        if binding is not None:
            sc = f"bench-{binding.lower()}"
            client.StorageV1Api(c.api).create_storage_class(
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": sc},
                    "provisioner": "kubernetes.io/host-path",
                    "volumeBindingMode": binding,
                }
            )
            spec["volumeClaimTemplates"] = [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": sc,
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ]
        body = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "members"},
            "spec": spec,
        }
        start = time.perf_counter()
        c.apps.create_namespaced_stateful_set(NS, body)

        def ready() -> int:
            s = c.apps.read_namespaced_stateful_set_status("members", NS).status
            return s.ready_replicas or 0

        seconds, done = _poll(ready, replicas, start)
        per = seconds / replicas if seconds is not None and policy == "OrderedReady" else None
        return Result(seconds, done, replicas, per_member=per)

    return run


def nodes_for(pods: int) -> int:
    """Simulated nodes enough for ``pods`` (and one spare)."""
    return -(-pods // PODS_PER_NODE) + 1


def workloads(pods: int = 10_000) -> list[Workload]:
    """The workloads of part ``scale``, with their targets for 2 cores."""
    big = nodes_for(pods)
    return [
        Workload("1,000 nodes Ready", 0, nodes_ready(1000), "≤ 10 s"),
        Workload("3,000-pod Deployment Ready, 30 nodes", 30, deployment_ready(3000), "≥ 100/s"),
        Workload(
            f"{pods:,}-pod Deployment Ready, {big} nodes", big, deployment_ready(pods), "≤ 90 s"
        ),
        Workload(
            f"{pods:,}-member Parallel StatefulSet, no claims, {big} nodes",
            big,
            statefulset_ready(pods, "Parallel"),
            "≤ 90 s",
        ),
        Workload(
            "1,000-member Parallel StatefulSet, WaitForFirstConsumer claims",
            10,
            statefulset_ready(1000, "Parallel", "WaitForFirstConsumer"),
            "≤ 120 s",
        ),
        Workload(
            "1,000-member Parallel StatefulSet, Immediate claims",
            10,
            statefulset_ready(1000, "Parallel", "Immediate"),
            "≤ 120 s",
        ),
        Workload(
            "OrderedReady, 30 members, no claims",
            0,
            statefulset_ready(30, "OrderedReady"),
            "≤ 0.3 s",
        ),
        Workload(
            "OrderedReady, 10 members, WaitForFirstConsumer claims",
            0,
            statefulset_ready(10, "OrderedReady", "WaitForFirstConsumer"),
            "≈ 1 s (the scheduler's volume binding polls each second)",
        ),
    ]


def run_on(tuned: bool, w: Workload, rss: Callable[[list[int]], float]) -> Result:
    """``w`` on a new cluster with (``tuned``) or without stslab's settings."""
    with tempfile.TemporaryDirectory(prefix="stslab-bench-scale-") as tmp:
        backend = KwokBackend(Path(tmp))
        backend.up(UpOptions(nodes=1, api_port=free_port(), dns_port=free_port(), tuned=tuned))
        try:
            api = api_client(backend.kubeconfig_path, CONTEXT)
            c = Cluster(api, backend.process_pids)
            c.core.create_namespace({"metadata": {"name": NS}})
            if w.nodes:
                _make_nodes(c, w.nodes, "pool")
                _poll(lambda: _ready_nodes(c, "pool"), w.nodes, time.perf_counter())
            result = w.run(c)
            result.rss_mib = rss(c.pids())
            return result
        finally:
            backend.down()


def bench_scale(rss: Callable[[list[int]], float], pods: int = 10_000) -> list[str]:
    """Every workload on kwokctl's defaults and on ours; the report's lines."""
    lines = [
        "## Scale: the simulated control plane, kwokctl's defaults against stslab's settings",
        "",
        "Each workload runs on a new cluster, first with kwokctl's defaults, then with the "
        "`Tuning` in clusters/kwok/kwokctl.yaml, one after the other. Simulated delays are 0. "
        "Time from the first request until done; ratio = defaults / ours (higher is better); "
        f"memory is the control plane's RSS at the end. {LIMIT_S:.0f} s at most per run.",
        "",
        "| workload | kwokctl's defaults | stslab | ratio | target | memory (defaults / ours) |",
        "|---|---|---|---|---|---|",
    ]
    for w in workloads(pods):
        base, ours = (run_on(tuned, w, rss) for _, tuned in PROFILES)
        ratio = "—"
        if base.seconds is not None and ours.seconds is not None:
            ratio = f"{base.seconds / ours.seconds:.1f}×"
        elif ours.seconds is not None:
            ratio = f"> {LIMIT_S / ours.seconds:.1f}×"
        line = (
            f"| {w.name} | {base.text()} | {ours.text()} | {ratio} | {w.target} | "
            f"{base.rss_mib:.0f} / {ours.rss_mib:.0f} MiB |"
        )
        print(line, flush=True)
        lines.append(line)
    lines.append("")
    return lines
