"""The Python face of the cluster layer: what the CLI and the labs call."""

from __future__ import annotations

from kubernetes import client

from stslab.cluster.choose import ClusterRecord, Status, UpOptions, resolve
from stslab.core.errors import ClusterStateError
from stslab.core.kube import api_client


def up(backend: str | None = None, **options: object) -> ClusterRecord:
    """Bring a lab cluster up (``auto`` unless ``backend`` or ``STSLAB_BACKEND`` says).

    ``options`` are the fields of :class:`~stslab.cluster.base.UpOptions`
    (``nodes``, ``gpus_per_node``, ``api_port``, ``dns_port``, ``ready_delay_ms``, ``context``,
    ``namespace``, ``real_node``).
    """
    chosen, _why = resolve(backend, for_up=True)
    return chosen.up(UpOptions(**options))  # type: ignore[arg-type]


def down(backend: str | None = None) -> None:
    """Tear the lab cluster down; nothing of it is left behind."""
    resolve(backend, for_up=False)[0].down()


def status(backend: str | None = None) -> Status:
    """The lab cluster's state and nodes."""
    return resolve(backend, for_up=False)[0].status()


def record(backend: str | None = None) -> ClusterRecord:
    """The record of the running lab cluster (kubeconfig, context, namespace, ports)."""
    rec = resolve(backend, for_up=False)[0].record()
    if rec is None:
        raise ClusterStateError("the lab cluster is not fully up", "run `stslab up`")
    return rec


def connect(backend: str | None = None, *, patient: bool = False) -> client.ApiClient:
    """An API client for the lab cluster, from its own kubeconfig (never ~/.kube/config).

    ``patient``: it rides out an API server restart (see :func:`stslab.core.kube.api_client`).
    """
    rec = record(backend)
    return api_client(rec.kubeconfig, rec.context, patient=patient)
