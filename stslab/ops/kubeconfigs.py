"""The kubeconfig a learner gets: the instructor's server and CA, a token, their namespace."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from kubernetes import client

from stslab.core.files import write_atomic


def cluster_entry(api: client.ApiClient, server: str) -> dict[str, Any]:
    """The learner kubeconfig's cluster: the instructor's server and CA."""
    cfg = api.configuration
    entry: dict[str, Any] = {"server": server}
    if not cfg.verify_ssl:
        entry["insecure-skip-tls-verify"] = True
    elif cfg.ssl_ca_cert:
        ca = Path(cfg.ssl_ca_cert).read_bytes()
        entry["certificate-authority-data"] = base64.b64encode(ca).decode()
    if getattr(cfg, "tls_server_name", None):
        entry["tls-server-name"] = cfg.tls_server_name
    return entry


def learner_kubeconfig(
    workshop: str, namespace: str, cluster: dict[str, Any], token: str
) -> dict[str, Any]:
    """A kubeconfig with one context, named after the learner's namespace, using ``token``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": workshop, "cluster": cluster}],
        "users": [{"name": namespace, "user": {"token": token}}],
        "contexts": [
            {
                "name": namespace,
                "context": {"cluster": workshop, "user": namespace, "namespace": namespace},
            }
        ],
        "current-context": namespace,
    }


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only, in a directory only they may open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    write_atomic(path, text, mode=0o600)
