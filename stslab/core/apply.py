"""Server-side apply, as ``kubectl apply --server-side`` does: create or update in one call.

Applying the same manifest twice is a no-op, so a lab cell that applies can be run again. A dry
run (``dry_run=True``) asks the API server to validate and default the object without storing
it: a learner's YAML is judged by the server's own rules, in the server's own words.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from stslab.core.paths import state_dir

FIELD_MANAGER = "stslab"  # the owner of the fields stslab applies (metadata.managedFields)
_clients: dict[int, DynamicClient] = {}
_lock = threading.Lock()


def _dynamic(api: client.ApiClient) -> DynamicClient:
    """One discovery client per API client; its discovery cache lives in the state directory."""
    with _lock:
        dyn = _clients.get(id(api))
        if dyn is None:
            host = hashlib.sha1(api.configuration.host.encode()).hexdigest()[:12]
            cache = state_dir() / "cache" / f"discovery-{host}.json"
            cache.parent.mkdir(parents=True, exist_ok=True)
            dyn = _clients[id(api)] = DynamicClient(api, cache_file=str(cache))
        return dyn


def apply(
    api: client.ApiClient,
    manifest: dict[str, Any],
    namespace: str | None = None,
    *,
    dry_run: bool = False,
) -> Any:
    """Apply ``manifest`` (in ``namespace`` when it is namespaced); the object as stored.

    Conflicts with fields another manager set (a learner's ``kubectl edit``) are taken over, as
    ``--force-conflicts`` does: the lab's manifest is the one the lab goes on from. Errors are
    the API server's (:class:`~kubernetes.client.exceptions.ApiException`).
    """
    dyn = _dynamic(api)
    resource = dyn.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": True}
    if dry_run:
        kwargs["dry_run"] = "All"
    return dyn.server_side_apply(
        resource,
        body=manifest,
        namespace=namespace if resource.namespaced else None,
        **kwargs,
    )


def served(api: client.ApiClient, kind: str) -> list[str]:
    """The ``group/version``s the API server serves ``kind`` as (``kubectl api-resources``)."""
    found = _dynamic(api).resources.search(kind=kind)
    return sorted({r.group_version for r in found if not r.name.count("/")})  # no subresources
