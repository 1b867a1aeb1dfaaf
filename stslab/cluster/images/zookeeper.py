"""A real ZooKeeper image built without a registry, for lab 05 on kind.

Made of Debian's Java runtime (a ``debootstrap`` root filesystem), Apache ZooKeeper's jars from
Maven Central (pinned with their sha256 in ``clusters/zookeeper/jars.lock``) and stslab's own
entry point and scripts (``clusters/zookeeper/image``). It keeps the contract of the official
``zookeeper`` image that ``clusters/zookeeper/zookeeper.yaml`` relies on (written down in
``clusters/zookeeper/CONTRACT.md``), and is tagged with the official image's name so the same
manifest runs on both. :mod:`~.kindnode` preloads it into the offline node image.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stslab.cluster.images import oci as ociimage
from stslab.core.errors import UsageError
from stslab.core.files import write_atomic
from stslab.core.paths import cache_dir, project_root

LOCK = Path("clusters/zookeeper/jars.lock")
FILES = Path("clusters/zookeeper/image")
MAVEN = "https://repo1.maven.org/maven2"
# Debian's Java runtime, and bash for the scripts and the manifest's probes.
PACKAGES = "openjdk-17-jre-headless,bash"
VERSION = "3.9.5"
# The official image's name: the manifest's image without its digest (see lab 05).
REF = f"docker.io/library/zookeeper:{VERSION}"
FETCH_FIX = "check that Maven Central is reachable and re-run `make kind-image`"


@dataclass(frozen=True)
class Jar:
    """One pinned jar: its Maven coordinates and the sha256 and size of its bytes."""

    group: str
    artifact: str
    version: str
    sha256: str
    size: int

    @property
    def file_name(self) -> str:
        """The jar's file name, as Maven Central names it."""
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        """Where Maven Central serves it."""
        group = self.group.replace(".", "/")
        return f"{MAVEN}/{group}/{self.artifact}/{self.version}/{self.file_name}"


def jars() -> list[Jar]:
    """The pinned classpath from ``jars.lock``."""
    out = []
    for line in (project_root() / LOCK).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            coords, sha, size = line.split()
            group, artifact, version = coords.split(":")
            out.append(Jar(group, artifact, version, sha, int(size)))
    return out


def fetch(jar: Jar, timeout: float = 120) -> Path:
    """The jar in the stslab cache, downloaded once and checked against its pinned sha256."""
    path = cache_dir() / "zookeeper" / "jars" / jar.file_name
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == jar.sha256:
        return path
    try:
        with urllib.request.urlopen(jar.url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, TimeoutError) as e:
        what = f"downloading {jar.file_name} from Maven Central failed: {e}"
        raise UsageError(what, FETCH_FIX) from None
    got = hashlib.sha256(data).hexdigest()
    if got != jar.sha256:
        raise UsageError(
            f"{jar.file_name} from Maven Central has sha256 {got[:12]}…, not the pinned "
            f"{jar.sha256[:12]}…",
            f"check {LOCK} against Maven Central's published .sha1/.asc and re-run",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return path


def build_root(root: Path) -> Path:
    """Add ZooKeeper's jars and stslab's scripts to a Java root filesystem in ``root``."""
    java = root / "usr/bin/java"
    if not java.exists() and not java.is_symlink():
        raise UsageError("the ZooKeeper image's root filesystem has no Java", FETCH_FIX)
    lib = root / "opt/zookeeper/lib"
    lib.mkdir(parents=True, exist_ok=True)
    for jar in jars():
        # Readable by everyone: the server runs as uid 1000 (the manifest's securityContext),
        # and the cache keeps its jars private (0600).
        (lib / jar.file_name).write_bytes(fetch(jar).read_bytes())
        (lib / jar.file_name).chmod(0o644)
    shutil.copytree(project_root() / FILES, root, dirs_exist_ok=True)
    for d in ("conf", "data", "datalog"):
        (root / d).mkdir(exist_ok=True)
    return root


def write(root: Path, dest: Path) -> Path:
    """Write the image's OCI archive (``zookeeper.tar``) into ``dest`` from ``root``."""
    image = ociimage.Image(
        [REF],
        cmd=("zkServer.sh", "start-foreground"),
        entrypoint=["/docker-entrypoint.sh"],
        env=(
            ociimage.PATH_ENV,
            "ZOO_CONF_DIR=/conf",
            "ZOO_DATA_DIR=/data",
            "ZOO_DATA_LOG_DIR=/datalog",
        ),
        labels={"dev.stslab.stands-in-for": REF, "dev.stslab.zookeeper-version": VERSION},
    )
    return ociimage.write_archive(root, [image], dest / "zookeeper.tar")


def inputs() -> list[bytes]:
    """What the image is made of, for the node image's key."""
    parts = [Path(__file__).read_bytes(), (project_root() / LOCK).read_bytes(), PACKAGES.encode()]
    for path in sorted((project_root() / FILES).rglob("*")):
        if path.is_file():
            parts += [str(path.relative_to(project_root())).encode(), path.read_bytes()]
    return parts
