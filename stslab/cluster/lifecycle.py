"""The Python face of the cluster layer: what the CLI and the labs call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from stslab.cluster.choose import Backend, ClusterRecord, Status, UpOptions, resolve
from stslab.core.errors import ClusterStateError
from stslab.core.kube import api_client


def up(backend: str | None = None, **options: object) -> ClusterRecord:
    """Bring a lab cluster up (``auto`` unless ``backend`` or ``STSLAB_BACKEND`` says).

    ``options`` are the fields of :class:`~stslab.cluster.base.UpOptions`
    (``nodes``, ``gpus_per_node``, ``api_port``, ``dns_port``, ``ready_delay_ms``, ``context``,
    ``namespace``, ``real_node``, ``kubernetes``).
    """
    opts = UpOptions(**options)  # type: ignore[arg-type]
    chosen, _why = resolve(backend, for_up=True)
    chosen.require_release_choice(opts.kubernetes)
    return chosen.up(opts)


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


@dataclass(frozen=True)
class LabCluster:
    """The running lab cluster, resolved once: what it can do, its record, an API client.

    Made by :func:`open_cluster`; a :class:`~stslab.lab.Lab` holds one (``lab.cluster``) and
    hands it to whatever needs the cluster (DNS lookups, volume directories, the runner).
    """

    backend: Backend  # what it can do; sensed, so a shared simulated cluster says so
    record: ClusterRecord
    api: client.ApiClient

    @property
    def name(self) -> str:
        """The backend's name (``kwok``, ``kind``, ``k3d``, ``existing``)."""
        return self.backend.name

    @property
    def runs_containers(self) -> bool:
        """Whether pods run real containers (exec, data, a real ZooKeeper)."""
        return self.backend.runs_containers

    @property
    def can_add_nodes(self) -> bool:
        """Whether a lab may add (simulated) machines."""
        return self.backend.can_add_nodes

    @property
    def can_power_nodes(self) -> bool:
        """Whether a node's machine can be stopped and started (kind's containers, kwok's nodes)."""
        return self.backend.can_power_nodes

    @property
    def immediate_binding(self) -> bool:
        """Whether the default class binds a claim at once (not when a pod first uses it)."""
        return self.backend.immediate_binding

    @property
    def shared(self) -> bool:
        """Whether the cluster is someone else's (a workshop's): results also go to them."""
        return self.backend.shared

    def dns_server(self) -> tuple[str, int] | None:
        """Where this machine can ask the cluster's DNS (the simulated backend), else None."""
        return self.backend.dns_server(self.record)

    def power_node(self, node: str, on: bool) -> None:
        """Stop (``on=False``) or start a node's machine, as a power cut would."""
        self.backend.power_node(self.record, node, on)

    def local_volume_dir(self) -> Path | None:
        """Where hostPath volumes live on this machine (the simulated backend), else None."""
        return self.backend.local_volume_dir(self.record)


def open_cluster(backend: str | None = None, *, patient: bool = False) -> LabCluster:
    """The running lab cluster as one :class:`LabCluster`; one line if it is not running.

    ``patient``: its API client rides out an API server restart (a notebook's cells).
    """
    chosen = resolve(backend, for_up=False)[0]
    st = chosen.status()
    rec = chosen.record() if st.state == "running" else None
    if rec is None:
        raise ClusterStateError(
            f"the {st.backend} lab cluster is {st.state}: {st.detail}",
            "start it with `stslab up` (or `make lab`), then re-run",
        )
    api = api_client(rec.kubeconfig, rec.context, patient=patient)
    return LabCluster(chosen.sensed(api), rec, api)
