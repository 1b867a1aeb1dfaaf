"""Small helpers shared by the cluster tests (the manifests come from stslab.lab.manifests)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from datetime import datetime

from kubernetes import client

from stslab.core.kube import wait_until
from stslab.lab.nslookup import parse


def pod_waiting(
    name: str,
    container: str,
    reason: str | None,
    *,
    namespace: str | None = None,
    phase: str | None = None,
    deleting: bool = False,
) -> client.V1Pod:
    """A pod object (no cluster) whose one container waits for ``reason`` (None: no reason)."""
    waiting = client.V1ContainerStateWaiting(reason=reason) if reason else None
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            namespace=namespace,
            deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None,
        ),
        status=client.V1PodStatus(
            phase=phase,
            container_statuses=[
                client.V1ContainerStatus(
                    name=container,
                    image=f"{container}:test",
                    image_id="",
                    ready=False,
                    restart_count=0,
                    state=client.V1ContainerState(waiting=waiting),
                )
            ],
        ),
    )


def wait_ready_pods(
    core: client.CoreV1Api, ns: str, selector: str, count: int, timeout: float = 60
) -> list[client.V1Pod]:
    def probe() -> list[client.V1Pod] | None:
        pods = core.list_namespaced_pod(ns, label_selector=selector).items
        ready = [p for p in pods if condition_time(p, "Ready") is not None]
        return ready if len(ready) == count else None

    return wait_until(probe, timeout=timeout, what=f"{count} Ready pods ({selector})")


def condition_time(pod: client.V1Pod, kind: str) -> datetime | None:
    """When the pod's condition ``kind`` last became True, or None if it is not True."""
    for c in pod.status.conditions or []:
        if c.type == kind and c.status == "True":
            when: datetime = c.last_transition_time
            return when
    return None


def nslookup(name: str, port: int) -> list[str]:
    """Addresses the lab's CoreDNS returns for ``name``, using the real nslookup binary."""
    exe = shutil.which("nslookup")
    assert exe, "nslookup is missing: install bind9-dnsutils (.ci/run does)"
    out = subprocess.run(
        [exe, f"-port={port}", name, "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    return parse(out)


class CuttableProxy:
    """A TCP proxy on loopback in front of the apiserver, whose connections a test can cut.

    ``cut()`` drops every open connection and stops listening (new ones are refused);
    ``restore()`` listens again on the same port. Traffic stays on 127.0.0.1.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.close()
        self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self) -> None:
        if self._listener is not None:
            self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                down, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                up = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                down.close()
                continue
            with self._lock:
                self._conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
