"""kind's node image built offline: Debian packages plus our own Kubernetes build.

kind's published node image (``kindest/node``) comes from a registry; our machines and air-gapped
workshops have none. :func:`build` makes an equivalent image from what the package registries
give us:

- a **base root filesystem** from Debian packages (``debootstrap``): systemd, containerd, runc,
  the CNI plugins, iptables, ...;
- the **node's binaries** from our pinned build (``make binaries kubelet kindnode``): kubelet,
  kubeadm, kubectl;
- stslab's **node files** (``clusters/kind-node/files``): the entry point, systemd units,
  containerd's configuration, pod networking (``stslab-net``) and kind's ``/kind`` layout;
- **every image the node runs**, built as OCI archives and loaded into the node's containerd
  at build time: pause, etcd, the control plane, kube-proxy, CoreDNS, the local-path
  provisioner, busybox (its helper, and the labs' nslookup image), the volume recycler's
  Debian base, the labs' nginx, the fake GPU device plugin and a real ZooKeeper
  (:mod:`stslab.cluster.images.zookeeper`).

The image's tag carries a key of all inputs, so a changed pin or file builds a new image and a
warm rebuild is a no-op (:func:`image_ref`). ``/kind/version`` and the image's labels name the
Kubernetes version; :func:`check_image` refuses an image made for another version.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from stslab.cluster.images import oci as ociimage
from stslab.cluster.images import rootfs
from stslab.cluster.images import zookeeper as zkimage
from stslab.cluster.images.rootfs import DEBIAN_SUITE, extract, key, rootfs_tar
from stslab.core.errors import ToolMissingError, UsageError
from stslab.core.paths import cache_dir, project_root
from stslab.core.procs import run
from stslab.core.versions import pinned

FILES = Path("clusters/kind-node/files")
REPO = "stslab.dev/kind-node"
VERSION_LABEL = "dev.stslab.kubernetes-version"
# The node's packages: what systemd, the kubelet, kube-proxy and kind's commands use.
NODE_PACKAGES = (
    "systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,iptables,iproute2,"
    "conntrack,ebtables,ethtool,socat,util-linux,mount,kmod,procps,ca-certificates,bash"
)
# kube-proxy programs iptables and clears conntrack entries.
PROXY_PACKAGES = "iptables,conntrack,iproute2,kmod"
# The labs' web server: Debian's nginx, under the names the labs' manifests use.
NGINX_PACKAGES = "nginx-light"
NGINX_TAGS = ("registry.k8s.io/nginx-slim:0.21", "registry.k8s.io/nginx-slim:0.24")
# The fake GPU plugin's image: Debian's Python, with the plugin's wheels from PyPI.
PYTHON_PACKAGES = "python3"
PLUGIN_WHEELS = ("grpcio>=1.85.1", "protobuf>=7.35.1,<8", "kubernetes>=31", "PyYAML>=6")
# The image of kube-controller-manager's recycler pod (the Recycle reclaim policy; see
# NewPersistentVolumeRecyclerPodTemplate in Kubernetes' pkg/volume). A Debian root filesystem
# stands in for it: its `find /scrub -mindepth 1 -delete` needs GNU find, which busybox lacks.
RECYCLER_REF = "registry.k8s.io/build-image/debian-base:bookworm-v1.0.6"
DOCKER_FIX = "check that the Docker engine runs (`docker info`) and re-run"
BUILD_FIX = "run `make kind-image` (needs a Docker engine, debootstrap and `make binaries`)"

Say = Callable[[str], None]


def _inputs_key() -> str:
    """A key of everything the image is made from (pins, node files, this builder)."""
    root = project_root()
    parts: list[str | bytes] = [
        (root / "clusters/versions.env").read_bytes(),
        Path(__file__).read_bytes(),
        Path(ociimage.__file__).read_bytes(),
        Path(rootfs.__file__).read_bytes(),
        NODE_PACKAGES,
        PROXY_PACKAGES,
        NGINX_PACKAGES,
        *NGINX_TAGS,
        PYTHON_PACKAGES,
        *PLUGIN_WHEELS,
        DEBIAN_SUITE,
        *zkimage.inputs(),
    ]
    for path in sorted((root / FILES).rglob("*")):
        if path.is_file():
            parts += [str(path.relative_to(root)), path.read_bytes()]
    # The GPU plugin's image carries a copy of the package and runs stslab.gpu, which imports
    # only stslab.core: a change there is a new image too.
    package = Path(__file__).resolve().parents[2]
    for sub in ("gpu", "core"):
        for path in sorted((package / sub).rglob("*.py")):
            parts += [str(path.relative_to(package)), path.read_bytes()]
    return key(*parts)


def image_ref() -> str:
    """The node image's reference: ``stslab.dev/kind-node:<kubernetes version>-<inputs key>``."""
    return f"{REPO}:{pinned().kubernetes}-{_inputs_key()}"


def _bin(component: str, name: str) -> Path:
    v = pinned()
    versions = {
        "kubernetes": v.kubernetes,
        "kubelet": v.kubernetes,
        "etcd": v.etcd,
        "kindnode": f"{v.kubernetes}-kind-{v.kind}",
    }
    d = cache_dir() / "bin" / f"{component}-{versions[component]}"
    if not (d / ".complete").is_file():
        raise ToolMissingError(
            f"the {component} binaries for the kind node image are not built",
            "run `make binaries kubelet kindnode` (or `make kind-image`)",
        )
    return d / name


def kind_binary_path() -> Path:
    """Where ``make binaries kindnode`` puts the kind CLI (it may not be built)."""
    v = pinned()
    return cache_dir() / "bin" / f"kindnode-{v.kubernetes}-kind-{v.kind}" / "kind"


def docker(*args: str, check: bool = True) -> str:
    """Run ``docker`` with ``args``, returning its output; a failure raises (when ``check``)."""
    cmd = ["docker", *args]
    if not check:
        return run(cmd, timeout=1800, check=False).stdout
    return run(cmd, timeout=1800, what=f"docker {args[0]}", error=UsageError, fix=DOCKER_FIX)


def image_exists(ref: str) -> bool:
    """Whether the local Docker engine has ``ref``."""
    return run(["docker", "image", "inspect", ref], timeout=60, check=False).ok


def check_image(ref: str) -> None:
    """Refuse a node image made for another Kubernetes version than the pinned one."""
    out = docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    labels = json.loads(out or "null") or {}
    have = labels.get(VERSION_LABEL)
    if have and have != pinned().kubernetes:
        raise UsageError(
            f"node image {ref} is for Kubernetes {have}, but stslab pins {pinned().kubernetes}",
            "run `make kind-image` to build the image for the pinned version",
        )


def kubeadm_images() -> dict[str, str]:
    """The images kubeadm runs for the pinned version: short name -> full reference."""
    kubeadm = [str(_bin("kindnode", "kubeadm")), "config", "images", "list"]
    out = run(
        [*kubeadm, "--kubernetes-version", pinned().kubernetes], timeout=60, what="kubeadm"
    ).split()
    return {ref.rsplit("/", 1)[1].split(":")[0]: ref for ref in out}


def _nginx_images(dest: Path, nginx_root: Path) -> None:
    """The labs' web images: Debian's nginx in the foreground, one image per tag the labs use.

    The tags share one layer and differ only in their label, so a change of tag is a real
    rolling update (new pods) of the same server.
    """
    # Serve /usr/share/nginx/html (where manifests written for nginx-slim mount their volumes)
    # and log to the container's output, so `kubectl logs` shows requests.
    site = nginx_root / "etc/nginx/sites-enabled/default"
    site.unlink(missing_ok=True)
    site.write_text(
        "server {\n"
        "  listen 80 default_server;\n"
        "  root /usr/share/nginx/html;\n"
        "  index index.html;\n"
        "  access_log /dev/stdout;\n"
        "  error_log /dev/stderr;\n"
        "  location / { try_files $uri $uri/ =404; }\n"
        "}\n"
    )
    html = nginx_root / "usr/share/nginx/html"
    html.mkdir(parents=True, exist_ok=True)
    (html / "index.html").write_text("stslab nginx (Debian nginx-light)\n")
    images = [
        ociimage.Image(
            [ref],
            cmd=("nginx", "-g", "daemon off;"),
            labels={"dev.stslab.stands-in-for": ref},
        )
        for ref in NGINX_TAGS
    ]
    ociimage.write_archive(nginx_root, images, dest / "nginx.tar")


def _plugin_image(dest: Path, root: Path) -> None:
    """The fake GPU device plugin (``stslab gpu plugin``), as clusters/gpu/Dockerfile makes it.

    ``root`` is a Debian root filesystem with Python; the plugin's wheels come from PyPI for
    that Python and this machine's platform, and stslab itself is copied in.
    """
    from stslab.gpu.config import plugin_image

    pythons = sorted((root / "usr/lib").glob("python3.[0-9]*"))
    if not pythons:
        raise UsageError("the plugin's root filesystem has no Python", BUILD_FIX)
    version = pythons[-1].name.removeprefix("python")
    site = root / "usr/local/lib" / f"python{version}" / "dist-packages"
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(ociimage.go_arch(), ociimage.go_arch())
    platforms = [f"--platform=manylinux_2_{n}_{machine}" for n in (17, 28, 34)]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site)]
    wheels = ["--only-binary=:all:", f"--python-version={version}", "--implementation=cp"]
    run(
        [*pip, *wheels, *platforms, *PLUGIN_WHEELS],
        timeout=900,
        what="pip install of the GPU plugin's wheels",
        error=UsageError,
        fix="check that PyPI (or the index pip is set to use) is reachable and re-run",
    )
    shutil.copytree(
        project_root() / "stslab", site / "stslab", ignore=shutil.ignore_patterns("__pycache__")
    )
    # stslab reads its pins from <root>/clusters/versions.env; installed, its root is site.
    (site / "clusters").mkdir()
    shutil.copy2(project_root() / "clusters/versions.env", site / "clusters/versions.env")
    cli = root / "usr/local/bin/stslab"
    cli.write_text(
        "#!/usr/bin/python3\nimport sys\n\nfrom stslab.cli import main\n\nsys.exit(main())\n"
    )
    cli.chmod(0o755)
    image = ociimage.Image(
        [f"docker.io/{plugin_image()}"], cmd=(), entrypoint=["stslab", "gpu", "plugin"]
    )
    ociimage.write_archive(root, [image], dest / "fake-gpu-plugin.tar")


def etcd_ref() -> str:
    """Our etcd image, tagged the way upstream tags etcd images (``3.6.16-0``)."""
    return f"registry.k8s.io/etcd:{pinned().etcd.lstrip('v')}-0"


def coredns_ref() -> str:
    """Our CoreDNS image."""
    return f"registry.k8s.io/coredns/coredns:{pinned().coredns}"


def kubeadm_patches() -> list[str]:
    """The ``kubeadmConfigPatches`` kind needs for the offline image.

    kubeadm runs our etcd and CoreDNS tags, not its defaults; the kubelet gives pods the
    resolv.conf the node's entry point writes (see clusters/kind-node/files).
    """
    return [
        "kind: ClusterConfiguration\n"
        f"etcd:\n  local:\n    imageTag: {etcd_ref().rsplit(':', 1)[1]}\n"
        f"dns:\n  imageTag: {pinned().coredns}\n",
        "kind: KubeletConfiguration\nresolvConf: /kind/pod-resolv.conf\n",
    ]


def _component_images(dest: Path, work: Path, proxy_tar: Path) -> dict[str, str]:
    """Write an OCI archive per image the node runs into ``dest``; return name -> reference."""
    refs = kubeadm_images()
    v = pinned()
    # Our etcd and CoreDNS are the pinned ones, newer than kubeadm's defaults: name them for what
    # they are, and tell kubeadm (see kubeadm_patch).
    refs["etcd"] = etcd_ref()
    refs["coredns"] = coredns_ref()
    busybox = ociimage.busybox_rootfs(work / "busybox")
    refs["busybox"] = "docker.io/library/busybox:1.28"
    refs["local-path-provisioner"] = f"stslab.dev/local-path-provisioner:{v.local_path}"
    ociimage.write_archive(busybox, [ociimage.Image([refs["busybox"]])], dest / "busybox.tar")
    recycler = extract(proxy_tar, work / "recycler", devices=False)
    stands_in = {"dev.stslab.stands-in-for": RECYCLER_REF}
    image = ociimage.Image([RECYCLER_REF], labels=stands_in)
    ociimage.write_archive(recycler, [image], dest / "recycler.tar")
    shutil.rmtree(recycler)

    def binary_image(name: str, binary: Path, base: Path | None, entrypoint: list[str]) -> None:
        root = work / name
        if base is not None and base.is_dir():
            shutil.copytree(base, root, symlinks=True)
        elif base is not None:  # a root filesystem tar
            extract(base, root, devices=False)
        target = root / entrypoint[0].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, target)
        image = ociimage.Image([refs[name]], cmd=(), entrypoint=entrypoint)
        ociimage.write_archive(root, [image], dest / f"{name}.tar")
        shutil.rmtree(root)

    k8s = "kubernetes"
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        binary_image(name, _bin(k8s, name), busybox, [f"/usr/local/bin/{name}"])
    binary_image(
        "kube-proxy", _bin("kindnode", "kube-proxy"), proxy_tar, ["/usr/local/bin/kube-proxy"]
    )
    binary_image("etcd", _bin("etcd", "etcd"), busybox, ["/usr/local/bin/etcd"])
    binary_image("coredns", _bin("kindnode", "coredns"), None, ["/coredns"])
    binary_image("pause", _bin("kindnode", "pause"), None, ["/pause"])
    binary_image(
        "local-path-provisioner",
        _bin("kindnode", "local-path-provisioner"),
        busybox,
        ["/usr/local/bin/local-path-provisioner"],
    )
    return refs


def _node_files(root: Path, refs: dict[str, str]) -> None:
    """Copy clusters/kind-node/files into the node's root, filling in image tags."""
    src = project_root() / FILES
    tags = {
        "@PAUSE_TAG@": refs["pause"].rsplit(":", 1)[1],
        "@LOCAL_PATH_TAG@": refs["local-path-provisioner"].rsplit(":", 1)[1],
    }
    for path in sorted(src.rglob("*")):
        target = root / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        data = path.read_bytes()
        for placeholder, value in tags.items():
            data = data.replace(placeholder.encode(), value.encode())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(path.stat().st_mode & 0o777)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in (
        "containerd.service",
        "stslab-net.service",
        "stslab-hosts.service",
        "kubelet.service",
    ):
        link = wants / unit
        link.unlink(missing_ok=True)
        unit_path = "/etc/systemd/system/" + unit
        if not (root / unit_path.lstrip("/")).exists():
            unit_path = "/lib/systemd/system/" + unit
        link.symlink_to(unit_path)
    for name in ("kubelet", "kubeadm"):
        shutil.copy2(_bin("kubelet" if name == "kubelet" else "kindnode", name), root / "usr/bin")
    shutil.copy2(_bin("kubernetes", "kubectl"), root / "usr/bin")
    (root / "kind/version").write_text(pinned().kubernetes + "\n")
    # Services a container has no use for, and which fail or wait there.
    for unit in (
        "getty@.service",
        "serial-getty@.service",
        "systemd-udevd.service",
        "systemd-remount-fs.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
    ):
        mask = root / "etc/systemd/system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")


ENTRYPOINT = '["/usr/local/bin/entrypoint", "/sbin/init"]'


def _docker_import(root: Path, ref: str) -> None:
    """``docker import`` the root filesystem ``root`` as ``ref``."""
    changes = [
        f"ENTRYPOINT {ENTRYPOINT}",
        f"LABEL {VERSION_LABEL}={pinned().kubernetes}",
        "ENV container=docker",
    ]
    tar = shlex.join(["tar", "-C", str(root), "--numeric-owner", "-c", "."])
    imp = shlex.join(["docker", "import", *(a for c in changes for a in ("--change", c)), "-", ref])
    run(
        ["bash", "-o", "pipefail", "-c", f"{tar} | {imp}"],
        timeout=1800,
        what="docker import of the node image",
        error=UsageError,
        fix=DOCKER_FIX,
    )


# Run inside the stage image: start containerd, import every archive, stop containerd.
PRELOAD = """
containerd >/tmp/containerd.log 2>&1 & pid=$!
for i in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
for f in /images/*.tar; do
  ctr -n k8s.io images import --all-platforms "$f" >/dev/null || exit 1
done
kill $pid; wait $pid
rm -rf /tmp/* /run/containerd
"""


def _preload(stage: str, ref: str, images: Path) -> None:
    """Load the OCI archives in ``images`` into the stage image's containerd; commit as ``ref``.

    Preloaded at build time (as kind's own node image is), a node boots with every image
    already unpacked: importing them at boot takes longer than kind waits for systemd.
    """
    name = f"stslab-kind-build-{ref.rsplit(':', 1)[1]}"
    docker("rm", "-f", name, check=False)
    try:
        docker(
            "run",
            "--name",
            name,
            "--privileged",
            "--entrypoint",
            "/bin/sh",
            "-v",
            f"{images}:/images:ro",
            stage,
            "-c",
            PRELOAD,
        )
        docker("commit", "--change", f"ENTRYPOINT {ENTRYPOINT}", "--change", "CMD []", name, ref)
    finally:
        docker("rm", "-f", name, check=False)
        docker("image", "rm", stage, check=False)


def build(say: Say = print, force: bool = False) -> str:
    """Build the offline kind node image into the local Docker engine; return its reference.

    A no-op when the image for the current inputs exists (unless ``force``).
    """
    ref = image_ref()
    if not force and image_exists(ref):
        say(f"kind node image {ref}: up to date")
        return ref
    for component, name in (
        ("kubernetes", "kubectl"),
        ("kubelet", "kubelet"),
        ("kindnode", "kubeadm"),
        ("etcd", "etcd"),
    ):
        _bin(component, name)
    base = rootfs_tar("node", NODE_PACKAGES, say)
    proxy = rootfs_tar("kube-proxy", PROXY_PACKAGES, say)
    nginx = rootfs_tar("nginx", NGINX_PACKAGES, say)
    python = rootfs_tar("python", PYTHON_PACKAGES, say)
    java = rootfs_tar("zookeeper", zkimage.PACKAGES, say)
    work_parent = cache_dir() / "kind-node"
    with tempfile.TemporaryDirectory(dir=work_parent) as tmp:
        work = Path(tmp)
        say(
            "node images: pause, etcd, control plane, kube-proxy, CoreDNS, local-path, busybox,"
            " recycler, nginx, the fake GPU plugin, ZooKeeper"
        )
        root = extract(base, work / "rootfs")
        images = work / "images"
        images.mkdir()
        refs = _component_images(images, work, proxy)
        _nginx_images(images, extract(nginx, work / "nginx", devices=False))
        _plugin_image(images, extract(python, work / "plugin", devices=False))
        zkimage.write(zkimage.build_root(extract(java, work / "zookeeper", devices=False)), images)
        _node_files(root, refs)
        say(f"kind node image {ref}: importing into Docker")
        stage = f"{REPO}-stage:{ref.rsplit(':', 1)[1]}"
        _docker_import(root, stage)
        say(f"kind node image {ref}: loading its images into the node's containerd")
        _preload(stage, ref, images)
    say(f"kind node image {ref}: built")
    return ref


def remove_stale(keep: str, say: Say = print) -> list[str]:
    """Remove earlier stslab kind node images (other keys) from Docker; return what went."""
    out = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", REPO)
    gone = [ref for ref in out.split() if ref != keep]
    for ref in gone:
        docker("image", "rm", ref, check=False)
        say(f"removed stale node image {ref}")
    return gone
