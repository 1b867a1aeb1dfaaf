"""Two simulated lab clusters on one machine never mix: their own ports, their own data.

Before stslab picked every port itself, kwokctl gave etcd the same port (counting down from
32766) to every cluster made while the other was stopped; starting both then left one
apiserver writing into the other's etcd.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.core.errors import PortInUseError
from stslab.core.kube import api_client
from stslab.core.procs import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def _core(backend: KwokBackend) -> client.CoreV1Api:
    rec = backend.record()
    assert rec is not None
    return client.CoreV1Api(api_client(rec.kubeconfig, rec.context))


def _marks(core: client.CoreV1Api) -> set[str]:
    return {cm.metadata.name for cm in core.list_namespaced_config_map("default").items} - {
        "kube-root-ca.crt"
    }


def test_two_clusters_keep_their_own_ports_and_data(tmp_path: Path) -> None:
    a, b = KwokBackend(tmp_path / "a"), KwokBackend(tmp_path / "b")
    try:
        # a made, then stopped; b made while a is stopped (what used to share etcd's port)
        a.up(UpOptions(api_port=free_port(), dns_port=free_port(), nodes=1, gpus_per_node=0))
        _core(a).create_namespaced_config_map("default", {"metadata": {"name": "only-in-a"}})
        a.stop()
        b.up(UpOptions(api_port=free_port(), dns_port=free_port(), nodes=1, gpus_per_node=0))
        _core(b).create_namespaced_config_map("default", {"metadata": {"name": "only-in-b"}})
        ra, rb = a.record(), b.record()
        assert ra is not None and rb is not None
        pa, pb = a.ports(ra), b.ports(rb)
        assert len(set(pa.values())) == len(pa) and not set(pa.values()) & set(pb.values())

        # stop and start both, in every order; each keeps only its own data
        for first, second in itertools.permutations((a, b)):
            for backend in (first, second):
                if backend.status().state == "running":
                    backend.stop()
            first.up(UpOptions())
            second.up(UpOptions())
            assert _marks(_core(a)) == {"only-in-a"}
            assert _marks(_core(b)) == {"only-in-b"}
    finally:
        for backend in (a, b):
            if backend.exists():
                backend.down()


def test_a_taken_port_is_refused_naming_it_before_anything_starts(tmp_path: Path) -> None:
    backend = KwokBackend(tmp_path / "c")
    backend.up(UpOptions(api_port=free_port(), dns_port=free_port(), nodes=1, gpus_per_node=0))
    try:
        rec = backend.record()
        assert rec is not None
        backend.stop()
        etcd_port = backend.ports(rec)["etcd"]
        with socket.socket() as squatter:  # something else took the stopped cluster's etcd port
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", etcd_port))
            squatter.listen()
            with pytest.raises(PortInUseError) as err:
                backend.up(UpOptions())
            assert f"port {etcd_port}" in str(err.value) and "etcd" in str(err.value)
            assert "pid " in str(err.value)  # names who holds it
            assert backend.process_pids() == []  # nothing half-started
        backend.up(UpOptions())  # once the port is free again, it starts with its data
        assert backend.status().state == "running"
    finally:
        backend.down()
