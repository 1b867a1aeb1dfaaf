"""stslab: a Jupyter-first lab kit that teaches Kubernetes StatefulSets on a live cluster.

The layers, from the top: ``cli`` (the ``stslab`` command), :mod:`stslab.ops` (workshops, the
headless runner), :mod:`stslab.lab` (what notebooks use — their one import),
:mod:`stslab.observe` (recorder and live views), :mod:`stslab.cluster` (backends and what
builds them), :mod:`stslab.gpu` (the fake device plugin) and :mod:`stslab.core` (errors, paths,
versions, labels, processes). Each imports only from the layers below it.

The cluster layer from Python::

    import stslab
    stslab.up()              # auto: kind, else k3d, else the simulated kwok backend
    api = stslab.connect()   # a kubernetes.client.ApiClient for the lab cluster
    stslab.status().nodes
    stslab.down()

Importing ``stslab`` loads nothing else: the names below are looked up on first use, so the
GPU plugin's image (which needs only :mod:`stslab.gpu`) does not import the kubernetes client.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "connect": "stslab.cluster.lifecycle",
    "down": "stslab.cluster.lifecycle",
    "record": "stslab.cluster.lifecycle",
    "status": "stslab.cluster.lifecycle",
    "up": "stslab.cluster.lifecycle",
    "ClusterStateError": "stslab.core.errors",
    "PortInUseError": "stslab.core.errors",
    "StslabError": "stslab.core.errors",
    "ToolMissingError": "stslab.core.errors",
    "UsageError": "stslab.core.errors",
    "WaitTimeoutError": "stslab.core.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stslab' has no attribute {name!r}")
