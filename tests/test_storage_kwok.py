"""Every PV phase transition and reclaim policy, asserted from the API on the live cluster."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.kube import wait_until
from stslab.lab.storage import claim, host_path_pv, why_pending

pytestmark = pytest.mark.cluster


def _phase(core: client.CoreV1Api, name: str) -> str | None:
    try:
        return str(core.read_persistent_volume(name).status.phase)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def _bound_pv(core: client.CoreV1Api, ns: str, name: str, policy: str) -> None:
    core.create_persistent_volume(
        host_path_pv(ns, name, reclaim=policy, labels={"stslab.dev/test": ns})
    )
    core.create_namespaced_persistent_volume_claim(
        ns, claim(name, storage_class="", volume_name=name)
    )
    wait_until(lambda: _phase(core, name) == "Bound", timeout=30, what=f"{name} Bound")


@pytest.fixture
def core(api: client.ApiClient, namespace: str):  # type: ignore[no-untyped-def]
    core = client.CoreV1Api(api)
    yield core
    core.delete_collection_persistent_volume(label_selector=f"stslab.dev/test={namespace}")


def test_retain_released_then_manually_reclaimed(core: client.CoreV1Api, namespace: str) -> None:
    name = f"{namespace}-retain"
    _bound_pv(core, namespace, name, "Retain")
    core.delete_namespaced_persistent_volume_claim(name, namespace)
    wait_until(lambda: _phase(core, name) == "Released", timeout=30, what="Released")
    core.patch_persistent_volume(name, {"spec": {"claimRef": None}})
    wait_until(lambda: _phase(core, name) == "Available", timeout=30, what="Available again")


def test_delete_removes_the_volume(core: client.CoreV1Api, namespace: str) -> None:
    name = f"{namespace}-delete"
    _bound_pv(core, namespace, name, "Delete")
    core.delete_namespaced_persistent_volume_claim(name, namespace)
    wait_until(lambda: _phase(core, name) is None, timeout=60, what="the volume deleted")


def test_recycle_runs_its_recycler_pod_then_available(
    core: client.CoreV1Api, namespace: str
) -> None:
    name = f"{namespace}-recycle"
    _bound_pv(core, namespace, name, "Recycle")
    core.delete_namespaced_persistent_volume_claim(name, namespace)
    wait_until(lambda: _phase(core, name) == "Available", timeout=60, what="recycled")
    reasons = {
        e.reason
        for e in core.list_event_for_all_namespaces(
            field_selector=f"involvedObject.name={name}"
        ).items
    }
    assert {"RecyclerPod", "VolumeRecycled"} <= reasons


def test_failed_when_the_reclaim_cannot_happen(core: client.CoreV1Api, namespace: str) -> None:
    name = f"{namespace}-doomed"
    core.create_persistent_volume(
        host_path_pv(
            namespace,
            name,
            reclaim="Delete",
            path=f"/srv/{name}",
            labels={"stslab.dev/test": namespace},
        )
    )
    core.create_namespaced_persistent_volume_claim(
        namespace, claim(name, storage_class="", volume_name=name)
    )
    wait_until(lambda: _phase(core, name) == "Bound", timeout=30, what="Bound")
    core.delete_namespaced_persistent_volume_claim(name, namespace)
    wait_until(lambda: _phase(core, name) == "Failed", timeout=60, what="Failed")
    assert "only supports /tmp" in core.read_persistent_volume(name).status.message


def test_pending_claims_are_explained(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_persistent_volume(
        host_path_pv(
            namespace, f"{namespace}-small", size="1Gi", labels={"stslab.dev/test": namespace}
        )
    )
    core.create_namespaced_persistent_volume_claim(
        namespace, claim("big", size="5Gi", access_modes=["ReadWriteMany"], storage_class="")
    )
    core.create_namespaced_persistent_volume_claim(
        namespace, claim("nowhere", storage_class="no-such")
    )
    big = " ".join(why_pending(api, namespace, "big"))
    assert f"PV {namespace}-small: size 1Gi < 5Gi" in big and "lack ['ReadWriteMany']" in big
    assert "there is no StorageClass 'no-such'" in why_pending(api, namespace, "nowhere")[0]


def test_deleting_a_volume_in_use_waits_for_its_claim(
    core: client.CoreV1Api, namespace: str
) -> None:
    name = f"{namespace}-inuse"
    _bound_pv(core, namespace, name, "Retain")
    core.delete_persistent_volume(name)
    pv = core.read_persistent_volume(name)  # protected while its claim exists
    assert (
        pv.metadata.deletion_timestamp and "kubernetes.io/pv-protection" in pv.metadata.finalizers
    )
    assert pv.status.phase == "Bound"
    core.delete_namespaced_persistent_volume_claim(name, namespace)
    wait_until(
        lambda: _phase(core, name) is None, timeout=60, what="the volume going with its claim"
    )
