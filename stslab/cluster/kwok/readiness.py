"""Waiting for a starting kwok cluster's nodes: the simulated ones, and the real one.

:func:`wait_nodes_ready` waits until enough nodes report Ready (the kwok controller plays
their kubelets); :func:`start_real_node` starts the real node (``stslab up --real-node``) and
waits until its kubelet has reported it Ready afresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from kubernetes import client

from stslab.cluster import nodes as labnodes
from stslab.cluster.kwok.realnode import RealNode
from stslab.core.kube import wait_until


def wait_nodes_ready(core: client.CoreV1Api, count: int, logs: Path, timeout: float = 60) -> None:
    """Wait until ``count`` nodes are Ready; a timeout points at the kwok controller's ``logs``."""

    def ready() -> bool:
        rows = labnodes.node_summary(core)
        return sum(bool(r["ready"]) for r in rows) >= count

    wait_until(
        ready,
        timeout=timeout,
        what=f"{count} nodes becoming Ready",
        hint=f"see the kwok controller log in {logs}",
    )


def start_real_node(node: RealNode, core: client.CoreV1Api, timeout: float = 60) -> None:
    """Start the real node and wait until its kubelet has reported it Ready."""
    # A restarted node still shows the Ready status of its last run: wait for a fresh one.
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    node.start()

    def ready() -> bool:
        conds = core.read_node(node.name).status.conditions or []
        return any(
            c.type == "Ready" and c.status == "True" and c.last_heartbeat_time >= since
            for c in conds
        )

    wait_until(ready, timeout=timeout, what=f"{node.name} Ready", hint=f"see {node.log('kubelet')}")
