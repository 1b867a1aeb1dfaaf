"""What a simulated cluster can hold on this machine, checked before anything starts.

The figures come from ``make bench`` (part scale) on 2 cores: the control plane's memory grows
with every node and pod it keeps, and every simulated node renews its lease every 10 s, which
costs the apiserver CPU whether anything else happens or not.
"""

from __future__ import annotations

import os
from pathlib import Path

from stslab.cluster.nodes import capacity as node_capacity
from stslab.core.errors import UsageError

# Measured with the Tuning's GOGC=400, which trades memory for CPU: 1,000 nodes 1.4 GiB,
# 10,000 pods on 92 nodes 3.7-3.9 GiB (the control plane's RSS, all components).
BASE_MIB = 700  # the control plane of an empty cluster, settled
MIB_PER_NODE = 1.0  # each simulated node: its object, lease and kwok's state (measured 0.7)
MIB_PER_POD = 0.35  # each pod: its object, events and every component's cache (measured 0.31)
NODES_PER_CORE = 1_000  # lease renewals a core keeps up with (1,000 nodes: 100 writes/s)
PODS_PER_NODE = int(node_capacity(0)["pods"])  # what a simulated node holds


def available_mib() -> float:
    """Memory the machine can give without swapping (``MemAvailable``), in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def needed_mib(nodes: int, pods: int) -> float:
    """The control plane's memory for ``nodes`` simulated nodes running ``pods`` pods."""
    return BASE_MIB + MIB_PER_NODE * nodes + MIB_PER_POD * pods


def check(*, nodes: int, pods: int = 0) -> None:
    """Raise :class:`UsageError` when this machine cannot hold ``nodes`` and ``pods``."""
    cores = os.cpu_count() or 1
    most_nodes = NODES_PER_CORE * cores
    if nodes > most_nodes:
        why = (
            f"{cores} cores keep about {most_nodes:,} simulated nodes alive "
            "(each renews its lease every 10 s)"
        )
        if pods:
            raise UsageError(
                f"{pods:,} pods need {nodes:,} simulated nodes; {why}",
                f"use at most {most_nodes * PODS_PER_NODE:,} pods here",
            )
        raise UsageError(
            f"{nodes:,} simulated nodes are too many: {why}", f"use at most {most_nodes:,}"
        )
    if pods > nodes * PODS_PER_NODE:
        raise UsageError(
            f"{pods:,} pods do not fit on {nodes:,} nodes ({PODS_PER_NODE} pods each)",
            f"use at least {-(-pods // PODS_PER_NODE):,} nodes",
        )
    need, free = needed_mib(nodes, pods), available_mib()
    if need > free * 0.8:  # leave the rest for the labs' kernels and the machine
        most = int((free * 0.8 - BASE_MIB - MIB_PER_NODE * nodes) / MIB_PER_POD)
        raise UsageError(
            f"{pods:,} pods on {nodes:,} nodes need about {need / 1024:.1f} GiB for the "
            f"control plane; this machine has {free / 1024:.1f} GiB free",
            f"use at most {max(most, 0):,} pods here, or free memory",
        )
