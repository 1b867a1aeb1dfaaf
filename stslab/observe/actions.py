"""What a learner does to a StatefulSet and reads of it, as API calls: one place for them.

The panel's controls (:mod:`stslab.observe.panel`) and the labs call these; each names the
kubectl command it stands for, and :func:`one_line` turns whatever went wrong into one line.
Every call has a short request timeout: a click never hangs the kernel for long.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

REQUEST_TIMEOUT = (3, 5)  # connect, read


def one_line(e: BaseException) -> str:
    """What went wrong with an API call, in one line."""
    if isinstance(e, ApiException):
        reason = e.reason or ""
        if e.status == 0 or e.status is None:
            return f"cannot reach the API server ({reason}): `stslab status` says why"
        return f"the API server said {e.status} {reason}".strip()
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "Connection refused" in text or "Max retries" in text or "timed out" in text:
        return "cannot reach the API server: `stslab status` says why"
    return text[:200]


def scale_command(namespace: str, name: str, replicas: int) -> str:
    """The kubectl command :func:`scale` stands for."""
    return f"kubectl -n {namespace} scale statefulset {name} --replicas={replicas}"


def scale(api: client.ApiClient, namespace: str, name: str, replicas: int) -> None:
    """Scale StatefulSet ``name`` to ``replicas`` (``kubectl scale``)."""
    client.AppsV1Api(api).patch_namespaced_stateful_set_scale(
        name, namespace, {"spec": {"replicas": replicas}}, _request_timeout=REQUEST_TIMEOUT
    )


def delete_command(namespace: str, pod: str) -> str:
    """The kubectl command :func:`delete_member` stands for."""
    return f"kubectl -n {namespace} delete pod {pod}"


def delete_member(api: client.ApiClient, namespace: str, pod: str) -> bool:
    """Delete the member ``pod`` (``kubectl delete pod``); False if it was already gone."""
    try:
        client.CoreV1Api(api).delete_namespaced_pod(
            pod, namespace, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def replicas(api: client.ApiClient, namespace: str, name: str) -> int | None:
    """How many replicas StatefulSet ``name`` asks for; None if it does not exist."""
    try:
        scale_ = client.AppsV1Api(api).read_namespaced_stateful_set_scale(
            name, namespace, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return int(scale_.spec.replicas or 0)


def stateful_sets(api: client.ApiClient, namespace: str) -> list[str]:
    """The names of the namespace's StatefulSets, sorted."""
    found = client.AppsV1Api(api).list_namespaced_stateful_set(
        namespace, _request_timeout=REQUEST_TIMEOUT
    )
    return sorted(s.metadata.name for s in found.items)


@dataclass(frozen=True)
class MemberDetails:
    """What the API says of one member beyond what a recording holds."""

    claims: str  # its claims, comma-separated, or "none"
    revision: str  # its controller-revision-hash, or "—"


def member_details(api: client.ApiClient, namespace: str, pod: str) -> MemberDetails:
    """Member ``pod``'s claims and revision, read from the API server."""
    p = client.CoreV1Api(api).read_namespaced_pod(pod, namespace, _request_timeout=REQUEST_TIMEOUT)
    claims = [
        v.persistent_volume_claim.claim_name
        for v in p.spec.volumes or []
        if v.persistent_volume_claim
    ]
    revision = (p.metadata.labels or {}).get("controller-revision-hash", "—")
    return MemberDetails(", ".join(claims) or "none", revision)
