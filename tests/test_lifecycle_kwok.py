"""The simulated backend's lifecycle: up, stop, restart with data, crash recovery, down."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest
from kubernetes import client

from stslab.cluster.base import UpOptions
from stslab.cluster.kwok import KwokBackend
from stslab.cluster.kwok.supervisor import stop_supervisor
from stslab.core.errors import ClusterStateError
from stslab.core.kube import api_client, wait_until
from stslab.core.procs import free_port, pid_cmdline, port_free

pytestmark = pytest.mark.cluster


def _kube_config_fingerprint() -> str:
    path = Path.home() / ".kube" / "config"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def _listening_addresses(pids: list[int]) -> set[str]:
    """Local addresses of the TCP/UDP sockets these processes listen or receive on."""
    inodes: set[str] = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else []:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    addrs = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            listening = table.startswith("udp") or f[3] == "0A"
            if listening and f[9] in inodes:
                hexip = f[1].split(":")[0]
                addrs.add(hexip)
    return addrs


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}


def test_lifecycle_stop_restart_crash_down(tmp_path: Path) -> None:
    before = _kube_config_fingerprint()
    backend = KwokBackend(tmp_path / "state")
    api_port, dns_port = free_port(), free_port()
    rec = backend.up(UpOptions(nodes=1, gpus_per_node=2, api_port=api_port, dns_port=dns_port))
    try:
        core = client.CoreV1Api(api_client(rec.kubeconfig, rec.context))
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": "kept"}, "data": {"k": "v"}}
        )
        # Nothing listens beyond loopback.
        addrs = _listening_addresses(backend.process_pids())
        assert addrs and addrs <= LOOPBACK_HEX, addrs

        backend.stop()
        assert backend.process_pids() == []
        assert port_free(api_port) and port_free(dns_port)
        assert backend.status().state == "stopped"

        rec = backend.up(UpOptions())  # restarts from the same etcd data
        core = client.CoreV1Api(api_client(rec.kubeconfig, rec.context))
        assert core.read_namespaced_config_map("kept", "default").data == {"k": "v"}
        assert backend.status().state == "running"

        # A cluster whose processes died (and its supervisor with them, as when the machine
        # slept) is reported, then brought back by `up`.
        stop_supervisor(backend.dir)
        apiserver = [
            p for p in backend.process_pids() if Path(pid_cmdline(p)[0]).name == "kube-apiserver"
        ]
        assert len(apiserver) == 1
        os.kill(apiserver[0], signal.SIGKILL)
        wait_until(
            lambda: backend.status().state == "broken",
            timeout=20,
            what="the dead apiserver being noticed",
        )
        rec = backend.up(UpOptions())
        core = client.CoreV1Api(api_client(rec.kubeconfig, rec.context))
        assert core.read_namespaced_config_map("kept", "default").data == {"k": "v"}
    finally:
        backend.down()
    assert not backend.dir.exists()
    assert backend.process_pids() == []
    assert port_free(api_port) and port_free(dns_port)
    assert _kube_config_fingerprint() == before
    with pytest.raises(ClusterStateError, match="no kwok lab cluster"):
        backend.down()
