"""The simulated backend: a real control plane run by kwokctl, kwok nodes, CoreDNS on loopback.

:mod:`~.backend` is the backend; the files kwokctl is handed are :mod:`~.files`'; its processes
are found and named in :mod:`~.processes` and kept running by :mod:`~.supervisor`; two clusters
on one machine stay apart through :mod:`~.isolation`; :mod:`~.capacity` says what this machine
can hold; :mod:`~.realnode` joins a real kubelet beside the simulated nodes.
"""

from stslab.cluster.kwok.backend import (
    CLUSTER,
    CONTEXT,
    DEFAULT_API_PORT,
    DEFAULT_DNS_PORT,
    KwokBackend,
)

__all__ = ["KwokBackend", "CLUSTER", "CONTEXT", "DEFAULT_API_PORT", "DEFAULT_DNS_PORT"]
