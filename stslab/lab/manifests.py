"""The manifests the labs and tests apply, as plain dicts (what ``kubectl apply`` would read).

Images: ``registry.k8s.io/nginx-slim:0.24`` (and ``:0.21`` for rolling updates), ``busybox:1.28``.
On the simulated backend no image is pulled; on kind/k3d ``stslab images`` preloads them.
"""

from __future__ import annotations

from typing import Any

from stslab.core.labels import GPU_RESOURCE, POOL_LABEL, READY_DELAY_ANNOTATION

NGINX = "registry.k8s.io/nginx-slim:0.24"
BUSYBOX = "busybox:1.28"


def headless_service(name: str, *, publish_not_ready: bool = False) -> dict[str, Any]:
    """A headless Service (``clusterIP: None``) with a named port ``web``."""
    spec: dict[str, Any] = {
        "clusterIP": "None",
        "selector": {"app": name},
        "ports": [{"name": "web", "port": 80}],
    }
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def cluster_ip_service(name: str, selector: str) -> dict[str, Any]:
    """An ordinary (load-balanced) Service in front of pods labelled ``app=selector``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": selector}, "ports": [{"name": "web", "port": 80}]},
    }


def _web_pod(name: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [
                {"name": "nginx", "image": image, "ports": [{"name": "web", "containerPort": 80}]}
            ]
        },
    }


def deployment(name: str, replicas: int = 3, image: str = NGINX) -> dict[str, Any]:
    """A Deployment of nginx: the stateless way to run replicas."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _web_pod(name, image),
        },
    }


def statefulset(
    name: str,
    replicas: int = 3,
    *,
    policy: str = "OrderedReady",
    claims: bool = True,
    size: str = "1Gi",
    storage_class: str | None = None,
    when_scaled: str | None = None,
    when_deleted: str | None = None,
    image: str = NGINX,
) -> dict[str, Any]:
    """A StatefulSet of nginx behind the headless Service ``name``, one claim per pod.

    ``storage_class`` None uses the cluster's default class (never hard-code its name);
    ``when_scaled``/``when_deleted`` set ``persistentVolumeClaimRetentionPolicy``.
    """
    template = _web_pod(name, image)
    spec: dict[str, Any] = {
        "serviceName": name,
        "replicas": replicas,
        "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": name}},
        "template": template,
    }
    if claims:
        template["spec"]["containers"][0]["volumeMounts"] = [
            {"name": "www", "mountPath": "/usr/share/nginx/html"}
        ]
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        }
        if storage_class is not None:
            claim["storageClassName"] = storage_class
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "www"}, "spec": claim}]
    if when_scaled or when_deleted:
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenScaled": when_scaled or "Retain",
            "whenDeleted": when_deleted or "Retain",
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


# A simulated VM's size: what a GPU machine's tenant would rent.
VM_REQUESTS = {"cpu": "2", "memory": "8Gi"}


def _vm_container(
    gpus: int, requests: dict[str, str], claim_template: str | None
) -> dict[str, Any]:
    """A VM's container: it reports its GPUs, from the device plugin or from a claim (DRA)."""
    resources: dict[str, Any] = {"requests": dict(requests)}
    if claim_template:
        resources["claims"] = [{"name": "gpus"}]  # the pod's claim (see vm_statefulset)
    else:
        resources["limits"] = {GPU_RESOURCE: str(gpus)}
    return {
        "name": "vm",
        "image": BUSYBOX,
        "command": ["sh", "-c", 'echo "GPUs: $NVIDIA_VISIBLE_DEVICES"; exec sleep 2147483647'],
        "resources": resources,
    }


def _pool_affinity(pool: str) -> dict[str, Any]:
    """Schedule only on the nodes of ``pool`` (labelled ``stslab.dev/pool=<pool>``)."""
    term = {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [pool]}]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


def vm_statefulset(
    name: str,
    replicas: int,
    *,
    gpus: int,
    pool: str,
    policy: str = "OrderedReady",
    disk: str | None = "20Gi",
    ready_delay_ms: int = 1000,
    claim_template: str | None = None,
    requests: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A StatefulSet of GPU "virtual machines": each member asks for ``gpus`` GPUs.

    Members run only on nodes labelled ``stslab.dev/pool=<pool>`` and tolerate the GPU taint;
    each gets its own disk (a claim, unless ``disk`` is None) and DNS name. The container only
    reports the GPUs it was given (``NVIDIA_VISIBLE_DEVICES``, set by the device plugin).
    With ``claim_template`` the GPUs come through Dynamic Resource Allocation instead: each
    member gets a ResourceClaim from that ResourceClaimTemplate (see :mod:`stslab.lab.dra`).
    ``requests`` (default 2 CPUs, 8Gi) is a VM's CPU and memory: on kind the machines are
    containers sharing this computer, so a lab asks for less there.
    """
    from stslab.lab.pools import GPU_TOLERATION

    container = _vm_container(gpus, requests or VM_REQUESTS, claim_template)
    pod_claims = []
    if claim_template:
        pod_claims = [{"name": "gpus", "resourceClaimTemplateName": claim_template}]
    spec: dict[str, Any] = {
        "serviceName": name,
        "replicas": replicas,
        "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {
                "labels": {"app": name},
                # The simulated backend's boot time for a VM (see clusters/kwok/stages.yaml).
                "annotations": {READY_DELAY_ANNOTATION: str(ready_delay_ms)},
            },
            "spec": {
                "containers": [container],
                "tolerations": [GPU_TOLERATION],
                "affinity": _pool_affinity(pool),
                "terminationGracePeriodSeconds": 5,
            },
        },
    }
    if pod_claims:
        spec["template"]["spec"]["resourceClaims"] = pod_claims
    if disk:
        container["volumeMounts"] = [{"name": "disk", "mountPath": "/var/lib/vm"}]
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "disk"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": disk}},
                },
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def load(path: str) -> list[dict[str, Any]]:
    """The documents of a YAML manifest file under the project (``clusters/...``)."""
    import yaml

    from stslab.core.paths import project_root

    text = (project_root() / path).read_text()
    return [d for d in yaml.safe_load_all(text) if d]
