"""The simulated backend against its real control plane: nodes, ordering, DNS, storage."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest
from helpers import condition_time, nslookup, wait_ready_pods
from kubernetes import client

from stslab.cluster.base import ClusterRecord, UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until
from stslab.core.labels import GPU_RESOURCE, ZONE_LABEL
from stslab.lab.manifests import headless_service, statefulset

pytestmark = pytest.mark.cluster


def test_nodes_ready_with_gpu_allocatable(api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api).list_node().items
    assert len(nodes) == 3
    for n in nodes:
        ready = [c for c in n.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", n.metadata.name
        assert n.status.allocatable[GPU_RESOURCE] == "8"
    assert {n.metadata.labels[ZONE_LABEL] for n in nodes} == {"zone-a", "zone-b", "zone-c"}


def _create_sts(
    api: client.ApiClient, ns: str, name: str, policy: str, claims: bool = False
) -> list[client.V1Pod]:
    client.CoreV1Api(api).create_namespaced_service(ns, headless_service(name))
    client.AppsV1Api(api).create_namespaced_stateful_set(
        ns, statefulset(name, 3, policy=policy, claims=claims)
    )
    pods = wait_ready_pods(client.CoreV1Api(api), ns, f"app={name}", 3)
    return sorted(pods, key=lambda p: p.metadata.name)


def test_ordered_ready_creates_each_pod_after_the_previous_is_ready(
    api: client.ApiClient, namespace: str
) -> None:
    pods = _create_sts(api, namespace, "web", "OrderedReady")
    assert [p.metadata.name for p in pods] == ["web-0", "web-1", "web-2"]
    # Fake pod IPs come from their own range, apart from the Service range (10.96.0.0/16).
    assert all(
        ipaddress.ip_address(p.status.pod_ip) in ipaddress.ip_network("10.244.0.0/16") for p in pods
    )
    for prev, cur in zip(pods, pods[1:], strict=False):
        # API timestamps have one-second resolution; ordering must still hold.
        assert cur.metadata.creation_timestamp >= condition_time(prev, "Ready"), (
            f"{cur.metadata.name} was created before {prev.metadata.name} was Ready"
        )


def test_parallel_creates_pods_without_waiting(api: client.ApiClient, namespace: str) -> None:
    # The control for the test above: the same check fails when nothing waits.
    pods = _create_sts(api, namespace, "par", "Parallel")
    assert pods[2].metadata.creation_timestamp < condition_time(pods[0], "Ready")


def test_headless_service_resolves_through_coredns(
    api: client.ApiClient, namespace: str, kwok_cluster: ClusterRecord
) -> None:
    pods = _create_sts(api, namespace, "web", "OrderedReady")
    port = int(kwok_cluster.extra["dns_port"])
    ips = sorted(p.status.pod_ip for p in pods)
    wait_until(
        lambda: nslookup(f"web.{namespace}.svc.cluster.local", port) == ips,
        timeout=20,
        what="the headless Service resolving to every pod",
    )
    web1 = next(p for p in pods if p.metadata.name == "web-1")
    assert nslookup(f"web-1.web.{namespace}.svc.cluster.local", port) == [web1.status.pod_ip]
    assert nslookup(f"web-7.web.{namespace}.svc.cluster.local", port) == []


def test_claim_binds_and_delete_policy_removes_volume_and_directory(
    api: client.ApiClient, namespace: str, kwok_cluster: ClusterRecord
) -> None:
    core = client.CoreV1Api(api)
    default = [
        sc
        for sc in client.StorageV1Api(api).list_storage_class().items
        if (sc.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert len(default) == 1 and default[0].reclaim_policy == "Delete"
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "user"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox:1.28",
                        "volumeMounts": [{"name": "d", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            },
        },
    )
    pvc = wait_until(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("data", namespace)).status.phase
            == "Bound"
            and c
        ),
        timeout=120,
        what="the claim binding",
    )
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    host_path = pv.spec.host_path.path
    assert host_path.startswith("/tmp/hostpath_pv/")
    # The controller-manager's /tmp is the lab's volume directory.
    on_disk = Path(kwok_cluster.extra["volumes"]) / host_path.removeprefix("/tmp/")
    assert on_disk.is_dir()

    core.delete_namespaced_pod("user", namespace, grace_period_seconds=0)
    core.delete_namespaced_persistent_volume_claim("data", namespace)

    def pv_gone() -> bool:
        return not any(
            p.metadata.name == pv.metadata.name for p in core.list_persistent_volume().items
        )

    wait_until(pv_gone, timeout=120, what="the volume being deleted")
    assert not on_disk.exists()


def test_up_while_up_is_refused_and_keeps_the_cluster(
    kwok_cluster: ClusterRecord, state_root: Path
) -> None:
    backend = KwokBackend(state_root)
    with pytest.raises(ClusterStateError, match="already up"):
        backend.up(UpOptions())
    assert backend.status().state == "running"


def test_run_to_completion_pods_succeed(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    client.BatchV1Api(api).create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox:1.28", "command": ["true"]}],
                    }
                }
            },
        },
    )
    wait_until(
        lambda: (
            (
                j := client.BatchV1Api(api).read_namespaced_job_status("once", namespace)
            ).status.succeeded
            == 1
            and j
        ),
        timeout=60,
        what="the Job succeeding",
    )
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=once").items
    assert [p.status.phase for p in pods] == ["Succeeded"]


def _static_pv_claim(core: client.CoreV1Api, ns: str, name: str, path: str) -> None:
    core.create_persistent_volume(
        {
            "metadata": {"name": name, "labels": {"stslab.dev/test": "confinement"}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "",
                "hostPath": {"path": path},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    wait_until(
        lambda: core.read_persistent_volume(name).status.phase == "Bound",
        timeout=30,
        what=f"{name} binding",
    )
    core.delete_namespaced_persistent_volume_claim(name, ns)


def test_host_path_reclaim_cannot_delete_outside_the_lab_directory(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    tag = namespace
    # 1. A volume at a real /tmp path: the controller-manager's /tmp is the lab directory, so
    #    the reclaim "succeeds" there and the host's directory is untouched.
    host_tmp = Path(f"/tmp/stslab-victim-{tag}")
    host_tmp.mkdir()
    (host_tmp / "keep").write_text("precious")
    # 2. A path the provisioner's unanchored "/tmp/.+" check accepts but that is not under /tmp:
    #    every mount but the lab directory is read-only for it, so the reclaim fails visibly.
    outside = Path(f"/var/tmp/stslab-victim-{tag}/tmp/data")
    outside.mkdir(parents=True)
    (outside / "keep").write_text("precious")
    try:
        _static_pv_claim(core, namespace, f"{tag}-tmp", str(host_tmp))
        _static_pv_claim(core, namespace, f"{tag}-outside", str(outside))

        def pv_gone() -> bool:
            return not [
                p for p in core.list_persistent_volume().items if p.metadata.name == f"{tag}-tmp"
            ]

        wait_until(pv_gone, timeout=60, what="the /tmp volume being reclaimed")
        failed = wait_until(
            lambda: (
                (p := core.read_persistent_volume(f"{tag}-outside")).status.phase == "Failed" and p
            ),
            timeout=60,
            what="the outside volume's reclaim failing",
        )
        assert "read-only file system" in (failed.status.message or "")
        assert (host_tmp / "keep").read_text() == "precious"
        assert (outside / "keep").read_text() == "precious"
    finally:
        core.delete_collection_persistent_volume(label_selector="stslab.dev/test=confinement")
        shutil.rmtree(host_tmp, ignore_errors=True)
        shutil.rmtree(outside.parent.parent, ignore_errors=True)
