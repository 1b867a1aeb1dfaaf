"""Container images without a registry: an OCI image archive built from a root filesystem.

An OCI image is three kinds of JSON plus tar layers, all stored as content-addressed blobs
(https://github.com/opencontainers/image-spec):

- a **layer**: a tar of the root filesystem (here one uncompressed layer, so its digest is also
  the "diff id" the config names);
- a **config**: platform, default command, environment and the layers' diff ids;
- a **manifest**: the config's and the layers' descriptors (media type, digest, size);
- an **index** (``index.json``) naming the manifest once per image name, next to ``oci-layout``.

:func:`write_archive` puts them in one tar (the "OCI image layout" in a tarball), which
``ctr -n k8s.io images import`` loads into containerd (see :mod:`stslab.cluster.kwok.realnode`).
:func:`busybox_rootfs` makes the root filesystem of a busybox image from Debian's static
busybox. Everything is deterministic: the same input gives the same digests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stslab.core.errors import ToolMissingError
from stslab.core.procs import run

BUSYBOX = Path("/bin/busybox")
BUSYBOX_FIX = "install Debian's static busybox: `apt-get install -y busybox-static`"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A pod sandbox ("pause") container only has to hold the pod's namespaces open until it is
# stopped. Busybox's shell does that: it sleeps, and exits at once on SIGTERM (a plain `sleep`
# as PID 1 would ignore it).
PAUSE_COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
# containerd names an imported image after this annotation (the full reference).
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Image:
    """One image: its names (full references) and its default command and environment."""

    names: Sequence[str]
    cmd: Sequence[str] = ("sh",)
    entrypoint: Sequence[str] = ()
    env: Sequence[str] = (PATH_ENV,)
    labels: dict[str, str] = field(default_factory=dict)


def go_arch() -> str:
    """The machine's architecture as OCI (Go) names it: amd64, arm64, ..."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def busybox_rootfs(dest: Path, busybox: Path = BUSYBOX) -> Path:
    """Make a minimal root filesystem in ``dest``: busybox, its applet links, /etc and friends.

    Debian's ``busybox-static`` is statically linked, so the image needs no libraries.
    """
    if not busybox.is_file():
        raise ToolMissingError(f"{busybox} (a static busybox) is missing", BUSYBOX_FIX)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var", "proc", "sys"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    shutil.copy2(busybox, dest / "bin/busybox")
    applets = run([str(busybox), "--list-full"], timeout=30, what="busybox --list-full").split()
    for applet in applets:  # e.g. usr/bin/nslookup
        link = dest / applet
        if applet != "bin/busybox" and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
    (dest / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (dest / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return dest


def layer_tar(rootfs: Path) -> bytes:
    """An uncompressed, reproducible tar of ``rootfs``: sorted, owned by root, mtime 0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isfile():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict[str, Any]:
    """Store ``data`` under its digest; return its descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_archive(rootfs: Path, images: Sequence[Image], archive: Path) -> Path:
    """Write an OCI image layout tarball of ``images``, which all share one layer of ``rootfs``."""
    blobs: dict[str, bytes] = {}
    layer = _blob(blobs, layer_tar(rootfs), MEDIA_LAYER)
    index = []
    for image in images:
        config: dict[str, Any] = {"Env": list(image.env), "Cmd": list(image.cmd)}
        if image.entrypoint:
            config["Entrypoint"] = list(image.entrypoint)
        if image.labels:
            config["Labels"] = dict(image.labels)
        cfg = {
            "architecture": go_arch(),
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            "history": [{"created_by": "stslab.cluster.ociimage", "comment": "root filesystem"}],
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": _blob(blobs, _json(cfg), MEDIA_CONFIG),
            "layers": [layer],
        }
        desc = _blob(blobs, _json(manifest), MEDIA_MANIFEST)
        for name in image.names:
            tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
            index.append(desc | {"annotations": {NAME_ANNOTATION: name, REF_ANNOTATION: tag}})
    files = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": _json({"schemaVersion": 2, "manifests": index}),
    }
    files |= {f"blobs/sha256/{d.split(':', 1)[1]}": data for d, data in blobs.items()}
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".part")
    with tarfile.open(tmp, "w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, archive)
    return archive
