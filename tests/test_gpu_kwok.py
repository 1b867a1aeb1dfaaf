"""The fake GPUs on the simulated backend: the kwok adapter, node pools and the usage view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kubernetes import client

from stslab.cli import main
from stslab.cluster.nodes import GPU_MODEL, advertise_gpus, lab_workers
from stslab.core.kube import wait_until
from stslab.core.labels import GPU_RESOURCE
from stslab.observe.gpu_usage import draw_gpu_usage, usage


def _pod(name: str, node: str, resource: str, count: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.28",
                    "resources": {"limits": {resource: str(count)}},
                }
            ],
        },
    }


def _failed_scheduling(core: client.CoreV1Api, ns: str, pod: str) -> str | None:
    for e in core.list_namespaced_event(ns, field_selector=f"involvedObject.name={pod}").items:
        if e.reason == "FailedScheduling":
            return str(e.message)
    return None


@pytest.mark.cluster
def test_kwok_adapter_makes_the_scheduler_count_a_configured_resource(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    node = lab_workers(core)[0]
    resource = "example.com/fpga"
    advertise_gpus(core, node, 2, resource=resource, model="fake-fpga")
    try:
        n = core.read_node(node)
        assert n.status.allocatable[resource] == "2" and n.status.capacity[resource] == "2"
        assert n.metadata.labels["example.com/gpu.product"] == "fake-fpga"
        core.create_namespaced_pod(namespace, _pod("fits", node, resource, 2))
        core.create_namespaced_pod(namespace, _pod("too-big", node, resource, 1))
        wait_until(
            lambda: core.read_namespaced_pod("fits", namespace).spec.node_name == node,
            timeout=30,
            what="the pod asking for 2 being scheduled",
        )
        why = wait_until(
            lambda: _failed_scheduling(core, namespace, "too-big"),
            timeout=30,
            what="the scheduler refusing a third device",
        )
        assert f"Insufficient {resource}" in why
    finally:
        advertise_gpus(core, node, 0, resource=resource)
    n = core.read_node(node)
    assert resource not in (n.status.allocatable or {})
    assert "example.com/gpu.product" not in (n.metadata.labels or {})


@pytest.mark.cluster
def test_gpu_install_on_kwok_writes_the_plugin_configuration_into_node_status(
    api: client.ApiClient,
    state_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STSLAB_STATE", str(state_root))
    core = client.CoreV1Api(api)
    workers = lab_workers(core)
    advertise_gpus(core, workers[0], 0)  # as if its GPUs had never been advertised
    assert main(["gpu", "install", "--backend", "kwok"]) == 0
    out = capsys.readouterr().out
    assert "no device plugin can run there" in out and all(w in out for w in workers)
    for w in workers:
        n = core.read_node(w)
        assert n.status.allocatable[GPU_RESOURCE] == "8"
        assert n.metadata.labels["nvidia.com/gpu.product"] == GPU_MODEL


def _row(t: float, event: str, uid: str, node: str | None, gpus: int, phase: str) -> dict[str, Any]:
    return {
        "time": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(seconds=t),
        "kind": "Pod",
        "event": event,
        "name": uid,
        "uid": uid,
        "node": node,
        "gpus": gpus,
        "phase": phase,
    }


def test_usage_counts_gpus_from_binding_until_the_pod_is_gone() -> None:
    df = pd.DataFrame(
        [
            _row(0, "ADDED", "a", None, 2, "Pending"),  # not bound yet: holds nothing
            _row(1, "MODIFIED", "a", "n1", 2, "Pending"),
            _row(2, "ADDED", "b", "n1", 4, "Running"),
            _row(3, "ADDED", "c", "n2", 0, "Running"),  # no GPUs
            _row(4, "MODIFIED", "a", "n1", 2, "Terminating"),  # still holds them
            _row(5, "DELETED", "a", "n1", 2, "Terminating"),
            _row(6, "MODIFIED", "b", "n1", 4, "Succeeded"),
        ]
    )
    u = usage(df, ["n1", "n2"])
    assert u["n1"].tolist() == [0, 2, 6, 6, 6, 4, 0]
    assert u["n2"].tolist() == [0] * 7
    fig = draw_gpu_usage(df, {"n1": 8, "n2": 8}, title="t")
    assert fig.axes[0].get_ylabel() == "GPUs in use"


@pytest.mark.cluster
def test_a_node_a_real_kubelet_runs_gets_no_gpus_written_into_its_status(
    api: client.ApiClient,
) -> None:
    """There a pod asking for a written-in GPU would start with no device: only a plugin gives."""
    from stslab.core.errors import ClusterStateError

    core = client.CoreV1Api(api)
    name = "gpu-test-real-kubelet"  # no kwok annotation: kwok does not play it
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    try:
        with pytest.raises(ClusterStateError, match="run by a real kubelet"):
            advertise_gpus(core, name, 8)
        assert GPU_RESOURCE not in (core.read_node(name).status.capacity or {})
    finally:
        core.delete_node(name)
