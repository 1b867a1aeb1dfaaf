"""Where stslab keeps things.

- the project root (``clusters/``, ``labs/``, ``data/``, ``scripts/``): the checkout this
  package lies in, or, installed from a wheel, the copy shipped inside it (``stslab/_project``);
- the state directory (``STSLAB_STATE``, default ``<checkout>/.stslab``, or for a wheel
  ``$XDG_STATE_HOME/stslab``, i.e. ``~/.local/state/stslab``): one sub-directory per
  backend with its kubeconfig, process records, logs, etcd data and lab volumes. stslab never
  writes or deletes outside it (the binary cache aside), and never touches ``~/.kube/config``;
- the binary cache (``STSLAB_CACHE``, default ``~/.cache/stslab``), filled by
  ``scripts/build-binaries.sh`` into one directory per component and version.
"""

from __future__ import annotations

import os
from pathlib import Path

# Set in a lab kernel that runs with no one to click (`stslab labs run`): the panels then
# draw pictures, not widgets.
HEADLESS_ENV = "STSLAB_HEADLESS"
# Set by `run_lab(..., wrong=NAME)`: exercise NAME takes its kept wrong answer, to prove that
# its check fails (stslab.ops.proving).
WRONG_ENV = "STSLAB_WRONG"
_PACKAGE = Path(__file__).resolve().parents[1]


def checkout() -> Path | None:
    """The source checkout this package lies in, or None when installed from a wheel."""
    root = _PACKAGE.parent
    return root if (root / "clusters" / "versions.env").is_file() else None


def project_root() -> Path:
    """Where ``clusters/``, ``labs/`` and ``data/`` are: the checkout, or the wheel's copy."""
    return checkout() or _PACKAGE / "_project"


def state_dir() -> Path:
    """The lab state directory (not created here)."""
    env = os.environ.get("STSLAB_STATE")
    if env:
        return Path(env).resolve()
    root = checkout()
    if root is not None:
        return root / ".stslab"
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "stslab"


def lab_files_dir(namespace: str) -> Path:
    """A lab's folder of files (a manifest a challenge hands over); its cleanup removes it."""
    return state_dir() / "lab-files" / namespace


def build_dir() -> Path:
    """Where executed notebooks and reports go: ``<checkout>/build``, else under the state."""
    root = checkout()
    return root / "build" if root is not None else state_dir() / "build"


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
