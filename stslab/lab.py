"""What every lab does first and last: connect, get a fresh namespace, clean up.

from stslab.lab import Lab
lab = Lab("lab-01", backend)   # connect; remove what an earlier run left; make the namespace
lab.apply(manifest)            # create the object in the lab's namespace
lab.cleanup()                  # namespace, claims, their volumes, labelled cluster objects
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from typing import Any

from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from stslab.cluster import connect, status
from stslab.errors import ClusterStateError
from stslab.kube import wait_for_default_service_account, wait_until
from stslab.storage import local_dir, volume_path

LAB_LABEL = "stslab.dev/lab"
CORDON_ANNOTATION = "stslab.dev/cordoned-by"


class Lab:
    """A lab's connection and namespace. Re-running a lab from the top starts clean."""

    def __init__(self, namespace: str, backend: str | None = None, timeout: float = 120) -> None:
        st = status(backend)
        if st.state != "running":
            raise ClusterStateError(
                f"the {st.backend} lab cluster is {st.state}: {st.detail}",
                "start it with `stslab up` (or `make lab`), then re-run",
            )
        self.backend = st.backend
        self.started = datetime.now(timezone.utc)  # to tell this run's events from older ones
        self.namespace = namespace
        self.timeout = timeout
        self.api = connect(backend)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.cleanup()
        self.core.create_namespace(
            {"metadata": {"name": namespace, "labels": {LAB_LABEL: namespace}}}
        )
        wait_for_default_service_account(self.core, namespace)

    def apply(self, manifest: dict[str, Any]) -> Any:
        """Create ``manifest`` in the lab namespace (cluster-scoped ones get the lab label)."""
        meta = manifest.setdefault("metadata", {})
        meta.setdefault("labels", {})[LAB_LABEL] = self.namespace
        return utils.create_from_dict(self.api, manifest, namespace=self.namespace)

    def cleanup(self) -> None:
        """Delete the namespace (and so its claims), then wait for it and its volumes to go."""
        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
        for node in self.core.list_node().items:  # nodes a lab cordoned (a drain exercise)
            if (node.metadata.annotations or {}).get(CORDON_ANNOTATION) == self.namespace:
                self.core.patch_node(
                    node.metadata.name,
                    {
                        "metadata": {"annotations": {CORDON_ANNOTATION: None}},
                        "spec": {"unschedulable": False},
                    },
                )
        sel = f"{LAB_LABEL}={self.namespace}"
        for pv in self.core.list_persistent_volume(label_selector=sel).items:
            self.core.delete_persistent_volume(pv.metadata.name)
        for sc in client.StorageV1Api(self.api).list_storage_class(label_selector=sel).items:
            client.StorageV1Api(self.api).delete_storage_class(sc.metadata.name)

        def gone() -> bool:
            names = {n.metadata.name for n in self.core.list_namespace().items}
            pvs = [
                pv
                for pv in self.core.list_persistent_volume().items
                if pv.spec.claim_ref and pv.spec.claim_ref.namespace == self.namespace
            ]
            for pv in pvs:  # retained volumes outlive their claims: they are the lab's too
                if pv.status.phase in ("Released", "Failed") and not pv.metadata.deletion_timestamp:
                    self.core.delete_persistent_volume(pv.metadata.name)
            self._release_pods_of_missing_nodes()
            return self.namespace not in names and not pvs

        wait_until(gone, timeout=self.timeout, what=f"namespace {self.namespace} being removed")
        # Machines the lab added (node pools), once nothing of the lab runs on them.
        for node in self.core.list_node(label_selector=sel).items:
            self.core.delete_node(node.metadata.name)
        # Hand-made volumes' directories (kwok: on this machine, inside the lab volume dir).
        host = local_dir(volume_path(self.namespace, ""), self.backend)
        if host is not None and host.exists():
            shutil.rmtree(host)

    def _release_pods_of_missing_nodes(self) -> None:
        """Force-delete this lab's terminating pods whose node was removed (a node-failure step).

        No kubelet is left to confirm they stopped; the pod garbage collector would only
        remove them after a while. The lab made the node go away, so it knows they are gone.
        """
        nodes = {n.metadata.name for n in self.core.list_node().items}
        for p in self.core.list_namespaced_pod(self.namespace).items:
            if p.metadata.deletion_timestamp and p.spec.node_name not in nodes:
                try:
                    self.core.delete_namespaced_pod(
                        p.metadata.name, self.namespace, grace_period_seconds=0
                    )
                except ApiException as e:
                    if e.status != 404:
                        raise
