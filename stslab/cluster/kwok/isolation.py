"""Two simulated clusters on one machine never mix: their own ports, key prefix and identity.

kwokctl alone gives etcd and kwok ports counting down from 32766, the same for every cluster
made while another is stopped; started together, one apiserver then wrote into the other's
etcd. So stslab picks every port itself when a cluster is made, keeps them in its record, and
checks each is free before anything starts (:func:`stslab.core.procs.require_port` names the
holder). Each cluster also keeps its data under its own etcd key prefix, and a restarted
apiserver must serve the cluster's own identity — the uid of its kube-system namespace, made
once with the cluster — or the restart is undone.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from stslab.cluster.base import ClusterRecord
from stslab.cluster.kwok.datastore import tls_patches
from stslab.core.errors import ClusterStateError
from stslab.core.kube import wait_until
from stslab.core.paths import project_root
from stslab.core.procs import pick_ports

# The ports stslab picks (the apiserver's and CoreDNS's are the user's, with defaults).
PICKED_PORTS = (
    "etcd",
    "etcd-peer",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "coredns-ready",
)
# kwokctl's configuration option for each port it starts a component on.
KWOKCTL_PORT_OPTIONS = {
    "kube-apiserver": "kubeApiserverPort",
    "etcd": "etcdPort",
    "etcd-peer": "etcdPeerPort",
    "kube-controller-manager": "kubeControllerManagerPort",
    "kube-scheduler": "kubeSchedulerPort",
    "kwok-controller": "kwokControllerPort",
}


def choose_ports(seed: str, api_port: int, dns_port: int) -> dict[str, int]:
    """Every port of a new cluster, by component; ``seed`` (its state dir) spreads them."""
    picked = pick_ports(len(PICKED_PORTS), seed, taken={api_port, dns_port})
    return {"kube-apiserver": api_port, "coredns": dns_port} | dict(
        zip(PICKED_PORTS, picked, strict=True)
    )


def write_config(ports: dict[str, int], dest: Path, pki: Path, *, tuned: bool = True) -> Path:
    """The shipped kwokctl configuration with these ports and a fresh etcd prefix, at ``dest``.

    etcd serves over TLS with kwokctl's certificates in ``pki`` (:mod:`.datastore`).

    ``tuned`` merges in the ``Tuning`` document (settings for a control plane with one machine
    to itself); without it the cluster runs kwokctl's defaults, which benchmarks compare with.
    """
    docs = list(yaml.safe_load_all((project_root() / "clusters/kwok/kwokctl.yaml").read_text()))
    tuning = [d for d in docs if d["kind"] == "Tuning"]
    docs = [d for d in docs if d["kind"] != "Tuning"]
    for d in docs:
        if d["kind"] == "KwokctlConfiguration":
            for component, option in KWOKCTL_PORT_OPTIONS.items():
                d["options"][option] = ports[component]
            # Should this cluster's apiserver ever reach another cluster's etcd, it writes
            # beside that cluster's data, never into it (and check_identity stops it).
            d["options"]["etcdPrefix"] = f"/registry-{uuid.uuid4().hex[:8]}"
            merge_tuning(d, {"componentsPatches": tls_patches(pki, ports)})
        if tuned:
            for t in tuning:
                merge_tuning(d, t)
    dest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return dest


def merge_tuning(doc: dict[str, Any], tuning: dict[str, Any]) -> None:
    """Add a ``Tuning`` document's settings to kwokctl's (``doc``) or kwok's configuration.

    Its ``componentsPatches`` join those of the same component (etcd's TLS comes in this way).
    """
    if doc["kind"] == "KwokctlConfiguration":
        patches = doc.setdefault("componentsPatches", [])
        for extra in tuning.get("componentsPatches", []):
            patch = next((p for p in patches if p["name"] == extra["name"]), None)
            if patch is None:
                patch = {"name": extra["name"], "extraArgs": []}
                patches.append(patch)
            for field in ("extraArgs", "extraEnvs"):
                patch.setdefault(field, []).extend(extra.get(field, []))
    options = tuning.get("options", {}).get(doc["kind"], {})
    doc.setdefault("options", {}).update(options)


def recorded_ports(rec: ClusterRecord, cluster_dir: Path) -> dict[str, int]:
    """Every port of a cluster, by component (from kwokctl's files for older records)."""
    if "ports" in rec.extra:
        return {k: int(v) for k, v in rec.extra["ports"].items()}
    ports = {
        "kube-apiserver": int(rec.extra["api_port"]),
        "coredns": int(rec.extra["dns_port"]),
        "coredns-ready": int(rec.extra["dns_ready_port"]),
    }
    try:
        saved = yaml.safe_load((cluster_dir / "kwok.yaml").read_text())
        opts = saved.get("options", {}) if isinstance(saved, dict) else {}
    except (OSError, yaml.YAMLError):
        opts = {}
    for component, option in KWOKCTL_PORT_OPTIONS.items():
        if opts.get(option):
            ports.setdefault(component, int(opts[option]))
    return ports


def identity(core: client.CoreV1Api, quiet: bool = False) -> str | None:
    """The uid of the cluster's kube-system namespace: made once, when the cluster was made."""
    try:
        return str(core.read_namespace("kube-system", _request_timeout=5).metadata.uid)
    except Exception:  # noqa: BLE001 - not answering yet
        if quiet:
            return None
        raise


def check_identity(
    rec: ClusterRecord, core: client.CoreV1Api, ports: dict[str, int], logs: Path
) -> None:
    """Refuse an apiserver that serves another cluster's data (its etcd port was taken)."""
    expected = rec.extra.get("identity")
    if not expected:
        return  # a record from before identities were kept
    wait_until(
        lambda: identity(core, quiet=True) is not None,
        timeout=60,
        what="the restarted apiserver answering",
        hint=f"see the component logs in {logs}",
    )
    found = identity(core)
    if found != expected:
        raise ClusterStateError(
            f"the restarted apiserver serves another cluster's data (kube-system uid {found}, "
            f"this cluster's is {expected}): its etcd port {ports.get('etcd', '?')} reached "
            "a different etcd",
            "stop the other lab cluster on this machine, then `stslab up` again",
        )


def kubeconfig_ok(path: Path, context: str) -> bool:
    """True when ``path`` is a kubeconfig with ``context``, a server and credentials."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    if not isinstance(data, dict):
        return False
    contexts = {c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)}
    servers = [c.get("cluster", {}).get("server") for c in data.get("clusters") or []]
    return context in contexts and any(servers) and bool(data.get("users"))
