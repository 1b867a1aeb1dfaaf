"""Debian root filesystems from packages (``debootstrap``), cached as tars.

The offline kind node image (:mod:`stslab.cluster.images.kindnode`) and the images inside it start
from these: the node's system, kube-proxy's tools, nginx, Python for the GPU plugin, Java for
ZooKeeper. Each tar is cached in the stslab cache under a key of its suite and packages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from stslab.core.errors import ToolMissingError, UsageError
from stslab.core.paths import cache_dir
from stslab.core.procs import run

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("STSLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# A cold debootstrap takes about a minute (Java's two); a stalled mirror must not hang a build.
DEBOOTSTRAP_TIMEOUT = 1800

Say = Callable[[str], None]


def key(*parts: str | bytes) -> str:
    """A short, stable key of ``parts`` (their order counts)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:12]


def rootfs_tar(name: str, packages: str, say: Say) -> Path:
    """A cached tar of a Debian root filesystem with ``packages`` (``debootstrap`` once)."""
    tag = key(DEBIAN_SUITE, packages)
    out = cache_dir() / "kind-node" / f"{name}-{DEBIAN_SUITE}-{tag}.tar"
    if out.is_file():
        return out
    if shutil.which("debootstrap") is None:
        raise ToolMissingError(
            "debootstrap is not installed", "install it: `apt-get install -y debootstrap`"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"{name}: Debian {DEBIAN_SUITE} root filesystem from packages (cold: about 1 min)")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        root = Path(tmp) / "rootfs"
        boot = ["debootstrap", "--variant=minbase", f"--include={packages}", DEBIAN_SUITE]
        try:
            run(
                [*boot, str(root), DEBIAN_MIRROR],
                timeout=DEBOOTSTRAP_TIMEOUT,
                what=f"debootstrap of the {name} root filesystem",
                error=UsageError,
                fix=f"check that {DEBIAN_MIRROR} is reachable (STSLAB_DEBIAN_MIRROR) and re-run",
            )
        except UsageError:
            # debootstrap mounts /proc and /sys in the target while it installs.
            for sub in ("proc", "sys"):
                run(["umount", "-l", str(root / sub)], timeout=30, check=False)
            raise
        # Package caches and lists are not needed in an image.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        part = out.with_suffix(".part")
        run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(part), "."], timeout=600)
        os.replace(part, out)
    return out


def extract(tar: Path, dest: Path, devices: bool = True) -> Path:
    """Unpack a root filesystem tar; without ``devices``, leave /dev empty (runtimes fill it)."""
    dest.mkdir(parents=True, exist_ok=True)
    skip = [] if devices else ["--exclude=./dev/*"]
    run(["tar", "-C", str(dest), "--numeric-owner", *skip, "-xf", str(tar)], timeout=600)
    return dest
