"""The served room's image, for ``stslab workshop serve --kubernetes``: Debian, Python, the kit.

One image runs both the room's hub (JupyterHub with KubeSpawner, and its proxy) and each
learner's JupyterLab, so a cluster without a registry needs only this one archive loaded. It is
made of:

- a Debian root filesystem with Python (:func:`~.rootfs.rootfs_tar`, cached);
- ``/opt/stslab``: a virtualenv holding the kit's wheel, JupyterHub and KubeSpawner, installed in
  the image's own Python from wheels downloaded once by this machine's pip (its cache);
- configurable-http-proxy from the instructor's cache with this machine's ``node`` (the proxy
  needs Node >= 20, newer than Debian's), and the pinned ``kubectl``;
- an account ``learner`` (uid 1000) and ``stslab-learner-server``, a learner's server's entry
  point (:data:`ENTRY`).

The archive is cached under ``~/.cache/stslab/room/`` by a key of all of the above, kit included.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from stslab.cluster.images import oci as ociimage
from stslab.cluster.images.rootfs import Say, extract, key, rootfs_tar
from stslab.core.errors import ToolMissingError, UsageError
from stslab.core.paths import binary_dir, cache_dir, checkout
from stslab.core.procs import run
from stslab.core.versions import pinned

PACKAGES = "python3,python3-venv,ca-certificates"
KUBESPAWNER = "7.1.0"
NAME = "localhost/stslab-room"
VENV = "/opt/stslab"
LEARNER_UID = 1000
# A learner's server: their kubeconfig from the pod's ServiceAccount, the labs copied into their
# namespace, their state set up, then JupyterHub's single-user server. Written in POSIX sh.
ENTRY = """#!/bin/sh
set -eu
ns="$STSLAB_NAMESPACE"
sa=/var/run/secrets/kubernetes.io/serviceaccount
cat > "$HOME/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: room
  cluster:
    server: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
    certificate-authority: $sa/ca.crt
users:
- name: $ns
  user:
    tokenFile: $sa/token
contexts:
- name: $ns
  context: {cluster: room, user: $ns, namespace: $ns}
current-context: $ns
EOF
chmod 600 "$HOME/kubeconfig"
stslab lab "$HOME/labs" --copy-only --namespace "$ns"
[ -e "$STSLAB_STATE/existing" ] || stslab up --backend existing --context "$ns" --namespace "$ns"
exec jupyterhub-singleuser "$@"
"""


KIT_PARTS = ("pyproject.toml", "stslab", "clusters", "labs", "data", "scripts")


def kit_digest(src: Path) -> str:
    """What a copy of the kit is made of: its files' names, sizes and times under ``src``."""
    import hashlib

    h = hashlib.sha256()
    for top in KIT_PARTS:
        paths = [src / top] if (src / top).is_file() else sorted((src / top).rglob("*"))
        for p in paths:
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts:
                st = p.stat()
                h.update(f"{p.relative_to(src)} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _wheelhouse(src: Path, python: str, say: Say) -> Path:
    """The kit's wheel and the wheels it and the hub need for ``python`` (this machine's pip)."""
    hub = metadata.version("jupyterhub")
    house = cache_dir() / "room" / f"wheels-{python}"
    house.mkdir(parents=True, exist_ok=True)
    for old in house.glob("stslab-*.whl"):
        old.unlink()
    say("room image: the kit's wheel and its dependencies' wheels (pip's cache)")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    fix = "check that PyPI is reachable, then serve again"
    run(
        [*pip, "wheel", "--no-deps", "-w", str(house), str(src)],
        timeout=600,
        what="the kit's wheel",
        fix=fix,
    )
    kit = next(house.glob("stslab-*.whl"))
    wanted = [str(kit), f"jupyterhub=={hub}", f"jupyterhub-kubespawner=={KUBESPAWNER}"]
    run(
        [*pip, "download", "--only-binary=:all:", "--python-version", python, "-d", str(house)]
        + wanted,
        timeout=1200,
        what="downloading the room image's wheels",
        fix=fix,
    )
    return house


def _node() -> Path:
    """The Node.js here (>= 20, configurable-http-proxy's need), to copy into the image."""
    node = shutil.which("node")
    version = run([node, "--version"], timeout=30).strip() if node else ""
    if not node or not version.startswith("v") or int(version[1:].split(".")[0]) < 20:
        raise ToolMissingError(
            f"the room's proxy needs Node.js >= 20 for its image (found {version or 'none'})",
            "install Node.js 20 or newer (e.g. from nodesource), then serve again",
        )
    return Path(node).resolve()


def _copy_with_libraries(binary: Path, root: Path, dest: str) -> None:
    """``binary`` into ``root`` at ``dest``, with each shared library it needs the image lacks."""
    shutil.copy2(binary, root / dest.lstrip("/"))
    for line in run(["ldd", str(binary)], timeout=30).splitlines():
        parts = line.split("=>")
        lib = parts[1].split("(")[0].strip() if len(parts) == 2 else ""
        if lib.startswith("/") and not (root / lib.lstrip("/")).exists():
            (root / lib.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib, root / lib.lstrip("/"))


def image_key(src: Path) -> str:
    """What the image is made of: Debian's packages, the kit's files, the pinned versions."""
    parts = (PACKAGES, KUBESPAWNER, metadata.version("jupyterhub"), pinned().kubernetes, ENTRY)
    return key(*parts, kit_digest(src), Path(__file__).read_bytes())


def build(proxy: Path, say: Say = print) -> tuple[str, Path]:
    """The image's reference and its OCI archive, built unless cached."""
    src = checkout()
    if src is None:
        raise UsageError(
            "the room's image is built from the kit's checkout, and this is a wheel install",
            "serve from a checkout of stslab (git clone), or pass --image with one you built",
        )
    tag = image_key(src)
    ref, archive = f"{NAME}:{tag}", cache_dir() / "room" / f"room-{tag}.tar"
    if archive.is_file():
        return ref, archive
    kubectl = binary_dir("kubernetes", pinned().kubernetes) / "kubectl"
    if not kubectl.is_file():
        raise ToolMissingError(
            f"the pinned kubectl is not built ({kubectl})", "run `make binaries`"
        )
    node, base = _node(), rootfs_tar("room", PACKAGES, say)
    for old in archive.parent.glob("room-*.tar"):
        old.unlink()  # one kit's image at a time: each is about a gigabyte
    with tempfile.TemporaryDirectory(dir=archive.parent) as tmp:
        root = extract(base, Path(tmp) / "rootfs")  # pip's build steps want /dev/null
        chroot = ["chroot", str(root)]
        version = [*chroot, "python3", "-c", "import platform; print(platform.python_version())"]
        house = _wheelhouse(src, run(version, timeout=60).strip(), say)
        say("room image: the kit, JupyterHub and KubeSpawner in the image's Python")
        shutil.copytree(house, root / "tmp/wheels")
        hub = metadata.version("jupyterhub")
        pip = [
            *chroot,
            f"{VENV}/bin/pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            "/tmp/wheels",
        ]
        fix = "fix that, then serve again"
        run([*chroot, "python3", "-m", "venv", VENV], timeout=600, what="the image's venv", fix=fix)
        kit = next(house.glob("stslab-*.whl")).name
        run(
            [
                *pip,
                f"/tmp/wheels/{kit}",
                f"jupyterhub=={hub}",
                f"jupyterhub-kubespawner=={KUBESPAWNER}",
            ],
            timeout=1200,
            what="installing the kit in the room's image",
            fix=fix,
        )
        shutil.rmtree(root / "tmp/wheels")
        for dev in (root / "dev").iterdir():  # the runtime fills /dev
            if dev.is_dir() and not dev.is_symlink():
                shutil.rmtree(dev)
            else:
                dev.unlink()
        for cache in root.glob("root/.cache"):
            shutil.rmtree(cache)
        _copy_with_libraries(node, root, "/usr/local/bin/node")
        shutil.copytree(proxy.parents[1].parent, root / "opt/proxy", symlinks=True)
        (root / "usr/local/bin/configurable-http-proxy").symlink_to(
            "/opt/proxy/node_modules/.bin/configurable-http-proxy"
        )
        shutil.copy2(kubectl, root / "usr/local/bin/kubectl")
        entry = root / "usr/local/bin/stslab-learner-server"
        entry.write_text(ENTRY)
        entry.chmod(0o755)
        with (root / "etc/passwd").open("a") as f:
            f.write(f"learner:x:{LEARNER_UID}:{LEARNER_UID}:learner:/home/learner:/bin/sh\n")
        with (root / "etc/group").open("a") as f:
            f.write(f"learner:x:{LEARNER_UID}:\n")
        (root / "home/learner").mkdir(parents=True)  # the pod mounts a writable volume here
        say("room image: writing its archive (about a gigabyte)")
        image = ociimage.Image(
            [ref],
            cmd=("stslab-learner-server",),
            env=(f"PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"),
            labels={"dev.stslab.kit": tag},
        )
        ociimage.write_archive(root, [image], archive)
    return ref, archive
