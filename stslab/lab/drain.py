"""Draining a node in a lab: this lab's pods only, on nodes cleanup uncordons if it is stopped.

``kubectl drain`` cordons a node and asks for an eviction of each of its pods at once, retrying
every 5 s each one a PodDisruptionBudget refuses (``429``) until it is allowed or its
``--timeout`` runs out
(https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/). It lists the node's
pods in every namespace, so a lab always gives it a ``--pod-selector`` that only its own pods
match (:meth:`Lab.label` puts the lab's label on the pods its workloads make), and a workshop
account, which may not list other namespaces' pods, evicts one pod at a time instead
(:func:`evict`).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stslab.core.kube import server_said
from stslab.core.labels import CORDON_ANNOTATION
from stslab.core.procs import run


@dataclass(frozen=True)
class Drained:
    """What a ``kubectl drain`` did: whether it finished, and what it printed."""

    finished: bool
    printed: str

    @property
    def refused_by_budget(self) -> bool:
        """Whether a disruption budget refused an eviction it asked for."""
        return "disruption budget" in self.printed


def mark(core: client.CoreV1Api, node: str, namespace: str) -> None:
    """Mark ``node`` as cordoned by this lab, so cleanup uncordons it even after an interrupt."""
    core.patch_node(node, {"metadata": {"annotations": {CORDON_ANNOTATION: namespace}}})


def cordon(core: client.CoreV1Api, node: str, namespace: str) -> None:
    """Cordon ``node`` (no new pod is scheduled there), marked as this lab's."""
    marked = {"annotations": {CORDON_ANNOTATION: namespace}}
    core.patch_node(node, {"metadata": marked, "spec": {"unschedulable": True}})


def uncordon(core: client.CoreV1Api, node: str) -> None:
    """Let pods be scheduled on ``node`` again, and drop the lab's mark (cleanup's way too)."""
    unmarked = {"annotations": {CORDON_ANNOTATION: None}}
    core.patch_node(node, {"metadata": unmarked, "spec": {"unschedulable": False}})


def drain(node: str, pod_selector: str, *, timeout: int) -> Drained:
    """``kubectl drain node`` for the pods ``pod_selector`` matches, given up after ``timeout`` s.

    Runs the kernel's kubectl on the kernel's ``KUBECONFIG`` (the lab cluster's). Pods with an
    emptyDir lose it when evicted; drain refuses them unless told so (``--delete-emptydir-data``).
    """
    argv = [
        "kubectl", "drain", node, f"--pod-selector={pod_selector}",
        "--delete-emptydir-data", f"--timeout={timeout}s",
    ]  # fmt: skip
    done = run(argv, timeout=timeout + 60, check=False, env=dict(os.environ))
    said = "\n".join(s.rstrip() for s in (done.stdout, done.stderr) if s.strip())
    return Drained(finished=done.ok, printed=f"$ {shlex.join(argv)}\n{said}")


def replaced(core: client.CoreV1Api, namespace: str, pod: str, uid: str) -> bool:
    """Whether pod ``uid`` is gone: no pod of that name, or a new one (a set makes it again).

    An eviction only asks: the pod then terminates, as ``kubectl drain`` waits to see.
    """
    now = core.list_namespaced_pod(namespace, field_selector=f"metadata.name={pod}").items
    return not now or now[0].metadata.uid != uid


def evict(core: client.CoreV1Api, namespace: str, pod: str) -> str:
    """Ask for one eviction, as drain does for each pod: "evicted", or why it was refused."""
    try:
        core.create_namespaced_pod_eviction(
            pod, namespace, {"metadata": {"name": pod, "namespace": namespace}}
        )
        return "evicted"
    except ApiException as e:
        if e.status != 429:
            raise
        return "refused (429): " + server_said(e)
