"""The simulated cluster's etcd answers only its API server.

kwokctl runs etcd on loopback over plain HTTP with no client authentication: on a machine
others log in to (a workshop's host), any local account could read or write every key —
tokens, secrets, the learners' objects — around RBAC and admission. So stslab serves etcd's
client and peer ports over TLS and requires a client certificate signed by the cluster's own
CA, which only the API server holds; the state directory, where that CA and the admin
kubeconfig live, is the instructor's alone (:func:`stslab.core.files.make_private`).

kwokctl makes one certificate for every component (``pki/admin.crt``, for server and client
use, valid for 127.0.0.1); etcd serves with it and the API server presents it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# kwokctl writes its CA and keys here, inside its cluster directory, when it creates a cluster.
PKI = "pki"


def tls_patches(pki: Path, ports: dict[str, int]) -> list[dict[str, Any]]:
    """The component patches that serve etcd over TLS to its one client, the API server.

    kwokctl's own ``http://`` URLs are replaced (``override``, which changes only a flag
    kwokctl passes); the flags it does not pass are added.
    """
    ca, cert, key = str(pki / "ca.crt"), str(pki / "admin.crt"), str(pki / "admin.key")
    client = f"https://127.0.0.1:{ports['etcd']}"
    peer = f"https://127.0.0.1:{ports['etcd-peer']}"
    replaced = {
        "etcd": {
            "listen-client-urls": client,
            "advertise-client-urls": client,
            "listen-peer-urls": peer,
            "initial-advertise-peer-urls": peer,
            "initial-cluster": f"node0={peer}",
        },
        "kube-apiserver": {"etcd-servers": client},
    }
    added = {
        "etcd": {
            "cert-file": cert,
            "key-file": key,
            "trusted-ca-file": ca,
            "client-cert-auth": "true",
            "peer-cert-file": cert,
            "peer-key-file": key,
            "peer-trusted-ca-file": ca,
            "peer-client-cert-auth": "true",
        },
        "kube-apiserver": {"etcd-cafile": ca, "etcd-certfile": cert, "etcd-keyfile": key},
    }
    return [
        {
            "name": name,
            "extraArgs": [
                {"key": k, "value": v, "override": True} for k, v in replaced[name].items()
            ]
            + [{"key": k, "value": v} for k, v in added[name].items()],
        }
        for name in ("etcd", "kube-apiserver")
    ]
