"""GPUs through Dynamic Resource Allocation (DRA), the successor of device-plugin counts.

With DRA a driver *publishes* each node's devices as a ResourceSlice, a DeviceClass says which
devices a request may use, and a pod's ResourceClaim (made per pod from a
ResourceClaimTemplate) asks for devices. The scheduler picks named devices — ``gpu-2`` on
``lab-06-gpu-1`` — and writes them into the claim's status. On the simulated backend no driver
runs on the nodes, so the lab publishes the slices itself, as a driver would; the allocation is
the real scheduler's. Every object made here carries the lab's label, so
:meth:`stslab.lab.context.Lab.cleanup` removes them.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

DRIVER = "gpu.stslab.dev"
API = "resource.k8s.io/v1"


def served(api: client.ApiClient) -> bool:
    """Whether the control plane serves DRA's ``resource.k8s.io/v1`` API."""
    try:
        groups = client.ApisApi(api).get_api_versions().groups
    except ApiException:
        return False
    return any(
        g.name == "resource.k8s.io" and "v1" in [v.version for v in g.versions] for g in groups
    )


def device_class(name: str) -> dict[str, Any]:
    """A DeviceClass that selects the devices of stslab's GPU driver."""
    return {
        "apiVersion": API,
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]},
    }


def resource_slice(node: str, gpus: int, model: str) -> dict[str, Any]:
    """What a GPU driver publishes for ``node``: one pool with ``gpus`` named devices."""
    return {
        "apiVersion": API,
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-gpus"},
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {"name": f"gpu-{i}", "attributes": {"model": {"string": model}}}
                for i in range(gpus)
            ],
        },
    }


def claim_template(name: str, gpus: int, device_class_name: str) -> dict[str, Any]:
    """A ResourceClaimTemplate: every pod made from it gets a claim for ``gpus`` devices."""
    return {
        "apiVersion": API,
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "gpus",
                            "exactly": {
                                "deviceClassName": device_class_name,
                                "allocationMode": "ExactCount",
                                "count": gpus,
                            },
                        }
                    ]
                }
            }
        },
    }


def create(api: client.ApiClient, manifest: dict[str, Any], namespace: str | None = None) -> Any:
    """Create a DRA object as written (the dynamic client sends the manifest unchanged)."""
    res = dynamic.DynamicClient(api).resources.get(
        api_version=manifest["apiVersion"], kind=manifest["kind"]
    )
    return res.create(body=manifest, namespace=namespace)


def delete_labelled(api: client.ApiClient, selector: str) -> list[str]:
    """Delete the cluster-scoped DRA objects (classes, slices) carrying ``selector``.

    Returns what went, as ``Kind name``.
    """
    if not served(api):
        return []
    dyn = dynamic.DynamicClient(api)
    gone = []
    for kind in ("ResourceSlice", "DeviceClass"):
        res = dyn.resources.get(api_version=API, kind=kind)
        for item in res.get(label_selector=selector).items:
            res.delete(name=item.metadata.name)
            gone.append(f"{kind} {item.metadata.name}")
    return gone


def allocations(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """One row per ResourceClaim: the pod it serves, its state and the devices it got."""
    res = dynamic.DynamicClient(api).resources.get(api_version=API, kind="ResourceClaim")
    rows = []
    for c in res.get(namespace=namespace).items:
        owners = [o.name for o in (c.metadata.ownerReferences or []) if o.kind == "Pod"]
        alloc = (c.status or {}).get("allocation") or {}
        results = (alloc.get("devices") or {}).get("results") or []
        rows.append(
            {
                "claim": c.metadata.name,
                "pod": owners[0] if owners else None,
                "allocated": bool(alloc),
                "node": results[0]["pool"] if results else None,
                "devices": sorted(r["device"] for r in results),
            }
        )
    return sorted(rows, key=lambda r: r["pod"] or "")
