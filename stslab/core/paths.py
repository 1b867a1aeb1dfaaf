"""Where stslab keeps things.

- the project root (``clusters/``, ``labs/``, ``data/``), found from this package's location;
- the state directory (``STSLAB_STATE``, default ``<project>/.stslab``): one sub-directory per
  backend with its kubeconfig, process records, logs, etcd data and lab volumes. stslab never
  writes or deletes outside it (the binary cache aside), and never touches ``~/.kube/config``;
- the binary cache (``STSLAB_CACHE``, default ``~/.cache/stslab``), filled by
  ``scripts/build-binaries.sh`` into one directory per component and version.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout stslab runs from (the directory holding ``clusters/``)."""
    return Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """The lab state directory (not created here)."""
    env = os.environ.get("STSLAB_STATE")
    return Path(env).resolve() if env else project_root() / ".stslab"


def cache_dir() -> Path:
    """The binary cache root."""
    env = os.environ.get("STSLAB_CACHE")
    return Path(env).resolve() if env else Path.home() / ".cache" / "stslab"


def binary_dir(component: str, version: str) -> Path:
    """The versioned cache directory of one component's binaries."""
    return cache_dir() / "bin" / f"{component}-{version}"


def is_within(path: Path, parent: Path) -> bool:
    """True when ``path`` is ``parent`` or lies below it (after resolving symlinks)."""
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True
