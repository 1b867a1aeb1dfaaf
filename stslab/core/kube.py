"""Kubernetes API access for stslab: clients built from the lab's own kubeconfig, and waits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from stslab.core.errors import StslabError, WaitTimeoutError
from stslab.core.paths import binary_dir
from stslab.core.versions import pinned

T = TypeVar("T")


def api_client(
    kubeconfig: Path | str, context: str | None = None, *, patient: bool = False
) -> client.ApiClient:
    """An API client for a kubeconfig file; the process-wide default config is left alone.

    ``patient`` (the labs' client) rides out an API server that restarts: a refused connection
    is tried again for 7.5 s (after 0, 0.5, 1, 2 and 4 s), as are reads of idempotent requests
    and 503s. Only a connection that was refused is retried for every method: the request never
    left, so nothing is sent twice.
    """
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=cfg)
    if patient:
        import urllib3

        cfg.retries = urllib3.Retry(
            total=5, connect=5, read=2, status=3, status_forcelist=(503,), backoff_factor=0.25
        )
    return client.ApiClient(cfg)


def kubectl_env(kubeconfig: Path | str, path: str, kubernetes: str | None = None) -> dict[str, str]:
    """``KUBECONFIG`` for the lab cluster, and ``PATH`` with the pinned kubectl first (if built).

    What ``eval $(stslab env)`` exports in a shell, and what a lab sets in its kernel so that
    ``!kubectl`` in a cell talks to the lab cluster; ``~/.kube/config`` is never touched.
    ``kubernetes``: the release the cluster runs, whose kubectl it gets (default: the pinned one).
    """
    env = {"KUBECONFIG": str(kubeconfig)}
    kubectl_dir = binary_dir("kubernetes", kubernetes or pinned().kubernetes)
    if (kubectl_dir / "kubectl").is_file() and str(kubectl_dir) not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join(p for p in (str(kubectl_dir), path) if p)
    return env


def server_version(api: client.ApiClient) -> str:
    """The release the API server says it runs (``v1.36.3``), or ``""`` if it does not answer."""
    try:
        return str(client.VersionApi(api).get_code(_request_timeout=5).git_version)
    except Exception:  # noqa: BLE001 - a status line, not a failure
        return ""


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    hint: str = "",
) -> T:
    """Call ``probe`` until it returns something truthy; raise :class:`WaitTimeoutError` at timeout.

    Errors raised by ``probe`` count as "not yet" (a component may still be starting); the last
    one is named in the timeout message.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - reported in the timeout below
            last_error = e
        if time.monotonic() >= deadline:
            because = f" (last error: {last_error})" if last_error else ""
            raise WaitTimeoutError(f"{what} did not happen within {timeout:.0f}s{because}", hint)
        time.sleep(interval)


def wait_for_default_service_account(core: client.CoreV1Api, namespace: str) -> None:
    """Wait until a new namespace can take pods: its default ServiceAccount must exist first."""
    wait_until(
        lambda: core.list_namespaced_service_account(namespace).items,
        timeout=90,  # the controller-manager may still be starting on a busy machine
        what=f"the default ServiceAccount of {namespace}",
    )


def listed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
    """The items of the list call ``call(*args, **kwargs)``; none if this account may not list them.

    Tolerates 403 (Forbidden) only. A workshop learner's account sees its own namespace and no
    cluster-scoped kinds (nodes, PersistentVolumes, StorageClasses), so a sweep over those —
    lab cleanup, say — goes on with what it may see: what an account may not list, it cannot
    have made. Any other error is raised.
    """
    try:
        return list(call(*args, **kwargs).items)
    except ApiException as e:
        if e.status == 403:
            return []
        raise


def tolerating_absence(delete: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``delete(*args, **kwargs)``; an object already gone, or not ours to delete, is fine.

    Tolerates 404 (Not Found: already gone — deleted earlier, or by a controller or the garbage
    collector meanwhile), 403 (Forbidden: a kind this account may not touch, such as a
    learner's account and cluster objects) and 405 (Method Not Allowed: a kind the server does
    not let this call delete, e.g. as a collection). Cleanup wants the object absent, and each
    of these leaves nothing of the caller's behind; any other error is raised.
    """
    try:
        delete(*args, **kwargs)
    except ApiException as e:
        if e.status not in (403, 404, 405):
            raise


# What each API status code usually means in a lab, and what to do about it.
_STATUS_FIXES = {
    401: "the credentials were refused (an expired workshop token?): ask for a new kubeconfig",
    403: "this account may not do that: on a workshop account, stay in your own namespace",
    404: "it does not exist (yet): check the name and namespace",
    409: "it exists already or changed meanwhile: run the cell again",
    422: "the server refused the object as invalid: read its message and fix the manifest",
    429: "the API server is busy: wait a moment and run the cell again",
}


def server_said(e: ApiException) -> str:
    """The API server's own message in ``e``, on one line (its status and reason if none)."""
    import json

    try:
        message = str(json.loads(e.body)["message"])
    except (TypeError, ValueError, KeyError):
        message = f"{e.status} {e.reason}"
    return " ".join(message.split())


def explain(e: BaseException) -> StslabError | None:
    """One-line cause and fix for an API or connection error, or None for other errors.

    The CLI prints it instead of a traceback, and so does a notebook once a :class:`Lab` is
    made (see :func:`stslab.lab.context.one_line_errors`).
    """
    import json

    import urllib3
    from kubernetes.client.exceptions import ApiException

    if isinstance(e, StslabError):
        return e
    if isinstance(e, ApiException):
        message = e.reason or ""
        try:
            message = json.loads(e.body or "{}").get("message") or message
        except (ValueError, AttributeError):
            pass
        status = e.status or 0
        fix = _STATUS_FIXES.get(status, "")
        if status >= 500:
            fix = "the API server failed: `stslab status` shows whether the cluster is healthy"
        return StslabError(f"the API server said {status}: {message}", fix)
    if isinstance(e, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        where = ""
        pool = getattr(e, "pool", None)
        if pool is not None:
            where = f" at {pool.host}:{pool.port}"
        reason = getattr(e, "reason", None) or e
        why = str(reason).rsplit(": ", 1)[-1].strip() or type(e).__name__
        return StslabError(
            f"cannot reach the API server{where} ({why})",
            "is that cluster running? For the lab cluster: `stslab status`, and `stslab up` "
            "starts or restarts it; for a shared cluster, check the context's server",
        )
    return None


def image_on_nodes(core: client.CoreV1Api, ref: str) -> bool:
    """Whether every schedulable node already holds image ``ref`` (as the kubelet names it)."""
    nodes = [n for n in core.list_node().items if not n.spec.unschedulable]
    return bool(nodes) and all(
        any(ref in (img.names or []) for img in n.status.images or []) for n in nodes
    )
