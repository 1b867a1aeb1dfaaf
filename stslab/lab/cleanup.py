"""What a lab leaves behind, removed: its namespace (a shared one's contents) and all it labelled.

:class:`~stslab.lab.context.Lab` calls :func:`clean` when it starts and when the lab ends, so a
lab runs from the top at any time. A shared namespace (a workshop learner's, or the one the
existing backend made) is emptied, never deleted: its owner could not make it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.cluster.lifecycle import LabCluster
from stslab.core.kube import listed, tolerating_absence, wait_until
from stslab.core.labels import CORDON_ANNOTATION, LAB_LABEL, SWITCHED_OFF_ANNOTATION
from stslab.core.paths import lab_files_dir
from stslab.lab import dra, drain, pools, progress
from stslab.lab.storage import local_dir, volume_path

# What a shared namespace keeps when emptied: its CA and the learner's progress.
KEEP_CONFIGMAPS = ("kube-root-ca.crt", progress.CONFIGMAP)


def clean(cluster: LabCluster, namespace: str, *, shared: bool, timeout: float) -> None:
    """Remove the lab's namespace (a shared one's contents); wait for it and its volumes.

    Also switches on the machines it switched off and uncordons the nodes it cordoned, deletes
    the volumes and classes it labelled, the machines it added and its hand-made volumes'
    directories.
    """
    core = client.CoreV1Api(cluster.api)
    # First: pods on a machine that is off cannot finish terminating, nor the namespace go.
    for node in listed(core.list_node):
        if (node.metadata.annotations or {}).get(SWITCHED_OFF_ANNOTATION) == namespace:
            switch_on(cluster, node.metadata.name)
    if shared:
        _empty(cluster.api, namespace)
    else:
        try:
            core.delete_namespace(namespace)
        except ApiException as e:
            if e.status != 404:
                raise
    sel = f"{LAB_LABEL}={namespace}"
    _cluster_objects(cluster.api, namespace, sel)
    refused: set[str] = set()  # retained volumes this user may not delete (a learner)

    def gone() -> bool:
        left = _leftovers(cluster.api, namespace) if shared else _exists(core, namespace)
        pvs = _released_volumes(core, namespace, refused)
        _release_pods_of_missing_nodes(core, namespace)
        return not left and not pvs

    what = f"namespace {namespace} being " + ("emptied" if shared else "removed")
    wait_until(gone, timeout=timeout, what=what)
    # Machines the lab added (node pools), once nothing of the lab runs on them.
    for node in listed(core.list_node, label_selector=sel):
        core.delete_node(node.metadata.name)
    # Hand-made volumes' directories (kwok: on this machine, inside the lab volume dir).
    host = local_dir(volume_path(namespace, ""), cluster)
    if host is not None and host.exists():
        shutil.rmtree(host)
    # The files a lab handed the learner (lab 08's manifests): in the lab's own folder.
    shutil.rmtree(lab_files_dir(namespace), ignore_errors=True)


def switch_on(cluster: LabCluster, node: str) -> None:
    """Switch ``node``'s machine on again and drop the mark a lab put on it when it went off."""
    cluster.power_node(node, on=True)
    unmark = {"metadata": {"annotations": {SWITCHED_OFF_ANNOTATION: None}}}
    client.CoreV1Api(cluster.api).patch_node(node, unmark)


def _cluster_objects(api: client.ApiClient, namespace: str, sel: str) -> None:
    """Cluster-scoped leftovers: cordons, pooled workers, labelled volumes, classes, devices.

    What this user may not list (403), this user cannot have made: a learner on a workshop
    cluster skips those steps instead of failing.
    """
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    for node in listed(core.list_node):  # nodes a lab cordoned (a drain exercise)
        if (node.metadata.annotations or {}).get(CORDON_ANNOTATION) == namespace:
            drain.uncordon(core, node.metadata.name)
    try:
        pools.release_workers(core, namespace)  # kind workers a lab pooled
    except ApiException as e:
        if e.status != 403:
            raise
    for pv in listed(core.list_persistent_volume, label_selector=sel):
        core.delete_persistent_volume(pv.metadata.name)
    for sc in listed(storage.list_storage_class, label_selector=sel):
        storage.delete_storage_class(sc.metadata.name)
    try:
        dra.delete_labelled(api, sel)  # device classes and slices a lab published
    except ApiException as e:
        if e.status != 403:
            raise


def _released_volumes(core: client.CoreV1Api, namespace: str, refused: set[str]) -> list[Any]:
    """The volumes still bound to the namespace's claims; released ones are deleted on the way.

    Retained volumes outlive their claims: they are the lab's too. One this user may not
    delete (403) is added to ``refused`` and no longer waited for.
    """
    pvs = [
        pv
        for pv in listed(core.list_persistent_volume)
        if pv.spec.claim_ref
        and pv.spec.claim_ref.namespace == namespace
        and pv.metadata.name not in refused
    ]
    for pv in pvs:
        if pv.status.phase in ("Released", "Failed") and not pv.metadata.deletion_timestamp:
            try:
                core.delete_persistent_volume(pv.metadata.name)
            except ApiException as e:
                if e.status == 403:
                    refused.add(pv.metadata.name)
                elif e.status != 404:
                    raise
    return [pv for pv in pvs if pv.metadata.name not in refused]


def _exists(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.read_namespace(namespace)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def _empty(api: client.ApiClient, ns: str) -> None:
    """Delete what labs make in a shared namespace; the namespace and its accounts stay."""
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    policy = client.PolicyV1Api(api)
    collections: list[Callable[..., Any]] = [
        apps.delete_collection_namespaced_stateful_set,  # owners first: nothing is remade
        apps.delete_collection_namespaced_deployment,
        apps.delete_collection_namespaced_replica_set,
        apps.delete_collection_namespaced_daemon_set,
        batch.delete_collection_namespaced_cron_job,
        batch.delete_collection_namespaced_job,
        policy.delete_collection_namespaced_pod_disruption_budget,
        core.delete_collection_namespaced_pod,
        core.delete_collection_namespaced_persistent_volume_claim,
        core.delete_collection_namespaced_event,
    ]
    for delete in collections:
        tolerating_absence(delete, ns, propagation_policy="Background")
    for svc in core.list_namespaced_service(ns).items:
        tolerating_absence(core.delete_namespaced_service, svc.metadata.name, ns)
    for cm in core.list_namespaced_config_map(ns).items:
        if cm.metadata.name not in KEEP_CONFIGMAPS:
            tolerating_absence(core.delete_namespaced_config_map, cm.metadata.name, ns)


def _leftovers(api: client.ApiClient, ns: str) -> list[str]:
    """What of a lab is still in the shared namespace (pods, claims, sets)."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    return [
        f"{kind} {o.metadata.name}"
        for kind, items in (
            ("pod", core.list_namespaced_pod(ns).items),
            ("claim", core.list_namespaced_persistent_volume_claim(ns).items),
            ("statefulset", apps.list_namespaced_stateful_set(ns).items),
            ("deployment", apps.list_namespaced_deployment(ns).items),
        )
        for o in items
    ]


def _release_pods_of_missing_nodes(core: client.CoreV1Api, namespace: str) -> None:
    """Force-delete this lab's terminating pods whose node was removed (a node-failure step).

    No kubelet is left to confirm they stopped; the pod garbage collector would only
    remove them after a while. The lab made the node go away, so it knows they are gone.
    """
    try:
        nodes = {n.metadata.name for n in core.list_node().items}
    except ApiException as e:
        if e.status == 403:
            return  # without seeing the nodes, no pod can be judged orphaned
        raise
    for p in core.list_namespaced_pod(namespace).items:
        if p.metadata.deletion_timestamp and p.spec.node_name not in nodes:
            try:
                core.delete_namespaced_pod(p.metadata.name, namespace, grace_period_seconds=0)
            except ApiException as e:
                if e.status != 404:
                    raise
