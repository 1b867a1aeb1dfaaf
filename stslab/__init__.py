"""stslab: a Jupyter-first lab kit that teaches Kubernetes StatefulSets on a live cluster.

The cluster layer::

    import stslab
    stslab.up()              # auto: kind, else k3d, else the simulated kwok backend
    api = stslab.connect()   # a kubernetes.client.ApiClient for the lab cluster
    stslab.status().nodes
    stslab.down()
"""

from stslab.cluster import connect, down, record, status, up
from stslab.errors import (
    ClusterStateError,
    PortInUseError,
    StslabError,
    ToolMissingError,
    UsageError,
    WaitTimeoutError,
)

__version__ = "0.1.0"

__all__ = [
    "ClusterStateError",
    "PortInUseError",
    "StslabError",
    "ToolMissingError",
    "UsageError",
    "WaitTimeoutError",
    "connect",
    "down",
    "record",
    "status",
    "up",
]
